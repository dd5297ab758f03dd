//! The disclosure notice in the page: rendered by the engine into a closed shadow root (so the
//! page cannot rewrite it) and measured before every frame. The verdict itself is
//! [`crate::disclosure::hidden_reason`], tested natively.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    Document, Element, HtmlElement, IntersectionObserver, IntersectionObserverEntry,
    IntersectionObserverInit, ShadowRoot, ShadowRootInit, ShadowRootMode, Window,
};

use crate::disclosure::{
    BannerMeasurement, BannerOptions, contrast_ratio, hidden_reason, parse_css_color,
};

/// The tag of the notice's element, for pages that style around it.
pub(crate) const TAG: &str = "glance-disclosure";

pub(crate) struct Banner {
    window: Window,
    document: Document,
    host: HtmlElement,
    shadow: ShadowRoot,
    options: BannerOptions,
    /// The IntersectionObserver's latest ratio (`NaN` until it has reported).
    io_ratio: Rc<Cell<f64>>,
    observer: IntersectionObserver,
    _on_intersection: Closure<dyn FnMut(js_sys::Array)>,
}

fn config_error(message: &str) -> JsValue {
    super::errors::named_error(crate::error::ErrorName::ConfigError, message)
}

impl Banner {
    /// Renders the notice into `container` (default `document.body`) and starts observing it.
    pub(crate) fn mount(
        options: BannerOptions,
        container: Option<Element>,
    ) -> Result<Self, JsValue> {
        let window = web_sys::window()
            .ok_or_else(|| config_error("the disclosure banner needs a page (no window here)"))?;
        let document = window
            .document()
            .ok_or_else(|| config_error("the disclosure banner needs a document"))?;
        let container = match container {
            Some(c) => c,
            None => document
                .body()
                .ok_or_else(|| config_error("the page has no <body> for the disclosure banner"))?
                .into(),
        };
        let host: HtmlElement = document.create_element(TAG)?.unchecked_into();
        let init = ShadowRootInit::new(ShadowRootMode::Closed);
        let shadow = host.attach_shadow(&init)?;
        container.append_child(&host)?;

        let io_ratio = Rc::new(Cell::new(f64::NAN));
        let ratio = io_ratio.clone();
        let on_intersection =
            Closure::<dyn FnMut(js_sys::Array)>::new(move |entries: js_sys::Array| {
                if let Some(last) = entries.iter().last() {
                    let entry: IntersectionObserverEntry = last.unchecked_into();
                    ratio.set(if entry.is_intersecting() {
                        entry.intersection_ratio()
                    } else {
                        0.0
                    });
                }
            });
        let io_init = IntersectionObserverInit::new();
        io_init.set_threshold(&js_sys::Array::of3(&0.0.into(), &0.5.into(), &0.99.into()));
        let observer = IntersectionObserver::new_with_options(
            on_intersection.as_ref().unchecked_ref(),
            &io_init,
        )?;
        observer.observe(&host);
        let banner = Banner {
            window,
            document,
            host,
            shadow,
            options,
            io_ratio,
            observer,
            _on_intersection: on_intersection,
        };
        banner.render();
        Ok(banner)
    }

    fn languages(&self) -> Vec<String> {
        self.window
            .navigator()
            .languages()
            .iter()
            .filter_map(|l| l.as_string())
            .collect()
    }

    fn render(&self) {
        let lang = self.options.language_for(&self.languages());
        self.shadow.set_inner_html(&self.options.render_html(lang));
    }

    /// New options (language, texts): re-rendered in place.
    pub(crate) fn update(&mut self, options: BannerOptions) {
        self.options = options;
        self.render();
    }

    /// Why the notice cannot be read now, or `None` when it can.
    pub fn hidden_reason(&self) -> Option<String> {
        hidden_reason(&self.measure(), self.options.min_height_px)
    }

    fn measure(&self) -> BannerMeasurement {
        let mut m = BannerMeasurement {
            attached: self.host.is_connected(),
            ..BannerMeasurement::default()
        };
        if !m.attached {
            return m;
        }
        match self.ancestors_opacity() {
            Ok(opacity) => m.opacity = opacity,
            Err(hidden_by) => {
                m.hidden_by = Some(hidden_by);
                return m;
            }
        }
        self.measure_box(&mut m);
        m.contrast = self.contrast().unwrap_or(0.0);
        m
    }

    /// Walks up from the notice, as anything on the way can hide it: the opacity they give it,
    /// or the style that hides it.
    fn ancestors_opacity(&self) -> Result<f64, String> {
        let mut opacity = 1.0;
        let mut node: Option<Element> = Some(self.host.clone().into());
        while let Some(el) = node {
            if let Ok(Some(style)) = self.window.get_computed_style(&el) {
                let get = |p: &str| style.get_property_value(p).unwrap_or_default();
                let display = get("display");
                let visibility = get("visibility");
                let content_visibility = get("content-visibility");
                let filter = get("filter");
                if display == "none" {
                    let tag = el.tag_name().to_lowercase();
                    return Err(format!("display: none on <{tag}>"));
                } else if visibility == "hidden" || visibility == "collapse" {
                    return Err(format!("visibility: {visibility}"));
                } else if content_visibility == "hidden" {
                    return Err("content-visibility: hidden".into());
                } else if !filter.is_empty() && filter != "none" {
                    return Err(format!("filter: {filter}"));
                }
                opacity *= get("opacity").parse::<f64>().unwrap_or(1.0);
            }
            node = el.parent_element();
        }
        Ok(opacity)
    }

    /// The notice's size, how much of it is in the viewport, and how many of a grid of points
    /// on it are covered by something else.
    fn measure_box(&self, m: &mut BannerMeasurement) {
        let rect = self.host.get_bounding_client_rect();
        let css_px = |v: Result<JsValue, JsValue>| v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let (vw, vh) = (
            css_px(self.window.inner_width()),
            css_px(self.window.inner_height()),
        );
        m.width = rect.width();
        m.height = rect.height();
        m.viewport_width = vw;
        m.viewport_height = vh;
        let visible_w = (rect.right().min(vw) - rect.left().max(0.0)).max(0.0);
        let visible_h = (rect.bottom().min(vh) - rect.top().max(0.0)).max(0.0);
        let area = rect.width() * rect.height();
        let rect_ratio = if area > 0.0 {
            visible_w * visible_h / area
        } else {
            0.0
        };
        let io = self.io_ratio.get();
        m.in_viewport = if io.is_nan() {
            rect_ratio
        } else {
            rect_ratio.min(io)
        };
        // Hit-test a grid of points: the topmost element must be the notice itself (hits inside
        // a shadow root are reported as its host).
        let points = [
            (0.5, 0.5),
            (0.05, 0.2),
            (0.95, 0.2),
            (0.05, 0.8),
            (0.95, 0.8),
            (0.3, 0.5),
            (0.7, 0.5),
        ];
        m.sampled_points = points.len();
        let host: &Element = self.host.as_ref();
        m.covered_points = points
            .iter()
            .filter(|(fx, fy)| {
                let x = rect.left() + fx * rect.width();
                let y = rect.top() + fy * rect.height();
                self.document
                    .element_from_point(x as f32, y as f32)
                    .is_none_or(|hit| &hit != host)
            })
            .count();
    }

    /// Contrast of the notice's paragraph text over its background.
    fn contrast(&self) -> Option<f64> {
        let notice = self.shadow.query_selector(".notice").ok()??;
        let text = self.shadow.query_selector(".notice p").ok()??;
        let bg = self.window.get_computed_style(&notice).ok()??;
        let fg = self.window.get_computed_style(&text).ok()??;
        let background = parse_css_color(&bg.get_property_value("background-color").ok()?)?;
        let color = parse_css_color(&fg.get_property_value("color").ok()?)?;
        // A see-through background is judged over white, the worst case for light text.
        let white = [255.0, 255.0, 255.0, 1.0];
        let a = background[3];
        let opaque = [
            background[0] * a + white[0] * (1.0 - a),
            background[1] * a + white[1] * (1.0 - a),
            background[2] * a + white[2] * (1.0 - a),
            1.0,
        ];
        Some(contrast_ratio(color, opaque))
    }
}

impl Drop for Banner {
    fn drop(&mut self) {
        self.observer.disconnect();
        self.host.remove();
    }
}
