//! The disclosure notice people in front of the screen read: its options, its texts in four
//! languages, its markup (with a QR code of the full notice), and the verdict on whether what
//! the browser measured of it counts as visible. Plain Rust so all of it is tested natively; the
//! web layer only renders the markup and measures the element.
//!
//! The first layer follows EDPB Guidelines 3/2019 (layered information at the camera) and
//! AI Act Art. 50(3) (people are told when automated categorisation is in use).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Who answers for the processing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Controller {
    pub name: String,
    /// An address people can write to (e-mail, postal address or URL).
    pub contact: String,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum BannerPosition {
    #[default]
    Bottom,
    Top,
}

/// The languages the notice ships in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Language {
    En,
    De,
    Fr,
    Es,
}

impl Language {
    pub const ALL: [Language; 4] = [Language::En, Language::De, Language::Fr, Language::Es];

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Es => "es",
        }
    }

    /// The first supported language of a browser's preference list (`navigator.languages`,
    /// e.g. `["de-AT", "en"]`), English when none is supported.
    pub fn negotiate<S: AsRef<str>>(preferred: &[S]) -> Language {
        preferred
            .iter()
            .find_map(|tag| {
                let primary = tag.as_ref().split(['-', '_']).next()?.to_ascii_lowercase();
                Language::ALL.into_iter().find(|l| l.code() == primary)
            })
            .unwrap_or(Language::En)
    }
}

/// `"auto"` follows the browser's languages.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum LanguageChoice {
    #[default]
    Auto,
    En,
    De,
    Fr,
    Es,
}

/// The keys of the notice's texts; each can be overridden per language in `text`.
pub(crate) const TEXT_KEYS: [&str; 9] = [
    "title",
    "what",
    "purpose",
    "noIdentification",
    "retention",
    "controller",
    "legalBasis",
    "object",
    "more",
];

/// `banner` in the engine options. Required in the browser: without a notice the engine does not
/// analyse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BannerOptions {
    pub controller: Controller,
    /// The full (second-layer) notice, shown as a link and a QR code.
    pub notice_url: String,
    pub language: LanguageChoice,
    /// How long the anonymous totals are kept; said in the notice (default 365, 1 to 36500).
    #[schemars(range(min = 1, max = 36500))]
    pub retention_days: u32,
    pub position: BannerPosition,
    /// Overrides per language code and text key, e.g. `{"de": {"title": "…"}}`. Placeholders:
    /// `{controller}`, `{contact}`, `{days}`.
    pub text: BTreeMap<String, BTreeMap<String, String>>,
    /// The notice must measure at least this many CSS pixels high (default 48) and be at least
    /// half as wide as the viewport (24 to 4320).
    #[schemars(range(min = 24.0, max = 4320.0))]
    pub min_height_px: f64,
}

impl Default for BannerOptions {
    fn default() -> Self {
        Self {
            controller: Controller::default(),
            notice_url: String::new(),
            language: LanguageChoice::Auto,
            retention_days: 365,
            position: BannerPosition::Bottom,
            text: BTreeMap::new(),
            min_height_px: 48.0,
        }
    }
}

/// A problem with the banner options: the JSON path below `banner` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BannerOptionError {
    pub path: String,
    pub message: String,
}

impl BannerOptions {
    pub fn validate(&self) -> Result<(), BannerOptionError> {
        let fail = |path: &str, message: &str| {
            Err(BannerOptionError {
                path: path.into(),
                message: message.into(),
            })
        };
        if self.controller.name.trim().is_empty() {
            return fail("controller.name", "say who is responsible for the camera");
        }
        if self.controller.contact.trim().is_empty() {
            return fail("controller.contact", "give a contact people can object to");
        }
        if self.notice_url.trim().is_empty() {
            return fail("noticeUrl", "link the full privacy notice");
        }
        if !(1..=36_500).contains(&self.retention_days) {
            return fail("retentionDays", "must be between 1 and 36500 days");
        }
        // A notice taller than an 8K screen is none a person can see whole.
        if !(24.0..=4320.0).contains(&self.min_height_px) {
            return fail("minHeightPx", "must be between 24 and 4320 CSS pixels");
        }
        for (lang, texts) in &self.text {
            if !Language::ALL.iter().any(|l| l.code() == lang) {
                return fail(&format!("text.{lang}"), "unknown language (en, de, fr, es)");
            }
            for key in texts.keys() {
                if !TEXT_KEYS.contains(&key.as_str()) {
                    return fail(
                        &format!("text.{lang}.{key}"),
                        &format!("unknown text; known: {}", TEXT_KEYS.join(", ")),
                    );
                }
            }
        }
        Ok(())
    }

    /// The language shown, given the browser's preferences.
    pub fn language_for<S: AsRef<str>>(&self, preferred: &[S]) -> Language {
        match self.language {
            LanguageChoice::Auto => Language::negotiate(preferred),
            LanguageChoice::En => Language::En,
            LanguageChoice::De => Language::De,
            LanguageChoice::Fr => Language::Fr,
            LanguageChoice::Es => Language::Es,
        }
    }

    /// One text of the notice in `lang`, overrides applied and placeholders filled.
    pub fn text(&self, lang: Language, key: &str) -> String {
        let template = self
            .text
            .get(lang.code())
            .and_then(|t| t.get(key))
            .map(String::as_str)
            .unwrap_or_else(|| default_text(lang, key));
        template
            .replace("{controller}", &self.controller.name)
            .replace("{contact}", &self.controller.contact)
            .replace("{days}", &self.retention_days.to_string())
    }

    /// The notice's markup (for a shadow root: it brings its own style so the page's CSS cannot
    /// restyle it). `.notice` is the element whose colours are checked for contrast.
    pub fn render_html(&self, lang: Language) -> String {
        let t = |key| escape(&self.text(lang, key));
        let qr = qr_svg(&self.notice_url);
        let edge = match self.position {
            BannerPosition::Bottom => "bottom: 0",
            BannerPosition::Top => "top: 0",
        };
        format!(
            r##"<style>
:host {{ all: initial; position: fixed; left: 0; right: 0; {edge}; z-index: 2147483647; display: block; }}
.notice {{ display: flex; gap: 16px; align-items: center; box-sizing: border-box; width: 100%;
  min-height: {min_h}px; padding: 10px 16px; background: #10151c; color: #ffffff;
  font: 14px/1.35 system-ui, sans-serif; border-top: 3px solid #f5c400; }}
.icon {{ flex: none; }}
.body {{ flex: 1; min-width: 0; }}
h2 {{ margin: 0 0 2px; font-size: 16px; color: #ffffff; }}
p {{ margin: 0; color: #ffffff; }}
a {{ color: #ffe680; }}
.qr {{ flex: none; width: 88px; height: 88px; background: #ffffff; padding: 4px; }}
.qr svg {{ width: 100%; height: 100%; display: block; }}
</style>
<section class="notice" role="region" aria-label="{title}" lang="{code}">
<svg class="icon" aria-hidden="true" viewBox="0 0 24 24" width="32" height="32" fill="none" stroke="#f5c400" stroke-width="2"><path d="M3 8h4l2-3h6l2 3h4v11H3z"/><circle cx="12" cy="13" r="4"/></svg>
<div class="body">
<h2>{title}</h2>
<p>{what} {purpose}</p>
<p><strong>{no_id}</strong> {retention}</p>
<p>{controller} {legal} {object}</p>
<p>{more} <a href="{url}" target="_blank" rel="noopener">{url_text}</a></p>
</div>
<div class="qr" aria-hidden="true">{qr}</div>
</section>"##,
            min_h = self.min_height_px,
            title = t("title"),
            code = lang.code(),
            what = t("what"),
            purpose = t("purpose"),
            no_id = t("noIdentification"),
            retention = t("retention"),
            controller = t("controller"),
            legal = t("legalBasis"),
            object = t("object"),
            more = t("more"),
            url = escape(&self.notice_url),
            url_text = escape(&self.notice_url),
        )
    }
}

fn default_text(lang: Language, key: &str) -> &'static str {
    use Language::*;
    match (lang, key) {
        (En, "title") => "Camera analysis in use: this screen counts its audience",
        (En, "what") => {
            "A camera at this screen estimates how many people are in front of it, whether they look at the screen, and each person's approximate age band and gender (automated categorisation)."
        }
        (En, "purpose") => "This is used to measure and choose the advertising shown here.",
        (En, "noIdentification") => {
            "No one is identified or recognised. No images are stored or sent: each camera frame is analysed on this device and discarded at once."
        }
        (En, "retention") => "Only anonymous totals are kept, for {days} days.",
        (En, "controller") => "Responsible: {controller}, {contact}.",
        (En, "legalBasis") => "Legal basis: legitimate interests (Art. 6(1)(f) GDPR).",
        (En, "object") => {
            "You have the right to object: contact {contact}, or stay out of the camera's view."
        }
        (En, "more") => "Full privacy notice:",

        (De, "title") => "Kameraanalyse aktiv: dieser Bildschirm zählt sein Publikum",
        (De, "what") => {
            "Eine Kamera an diesem Bildschirm schätzt, wie viele Personen davor stehen, ob sie auf den Bildschirm schauen, sowie die ungefähre Altersgruppe und das Geschlecht jeder Person (automatisierte Kategorisierung)."
        }
        (De, "purpose") => "Damit wird die hier gezeigte Werbung gemessen und ausgewählt.",
        (De, "noIdentification") => {
            "Niemand wird identifiziert oder wiedererkannt. Es werden keine Bilder gespeichert oder übertragen: Jedes Kamerabild wird auf diesem Gerät ausgewertet und sofort verworfen."
        }
        (De, "retention") => "Gespeichert werden nur anonyme Summen, für {days} Tage.",
        (De, "controller") => "Verantwortlich: {controller}, {contact}.",
        (De, "legalBasis") => {
            "Rechtsgrundlage: berechtigtes Interesse (Art. 6 Abs. 1 lit. f DSGVO)."
        }
        (De, "object") => {
            "Sie haben ein Widerspruchsrecht: wenden Sie sich an {contact} oder meiden Sie den Kamerabereich."
        }
        (De, "more") => "Vollständige Datenschutzinformation:",

        (Fr, "title") => "Analyse par caméra en cours : cet écran compte son audience",
        (Fr, "what") => {
            "Une caméra sur cet écran estime combien de personnes se trouvent devant lui, si elles regardent l'écran, ainsi que la tranche d'âge approximative et le genre de chacune (catégorisation automatisée)."
        }
        (Fr, "purpose") => {
            "Ces estimations servent à mesurer et à choisir la publicité diffusée ici."
        }
        (Fr, "noIdentification") => {
            "Personne n'est identifié ni reconnu. Aucune image n'est enregistrée ni transmise : chaque image de la caméra est analysée sur cet appareil puis effacée aussitôt."
        }
        (Fr, "retention") => "Seuls des totaux anonymes sont conservés, pendant {days} jours.",
        (Fr, "controller") => "Responsable : {controller}, {contact}.",
        (Fr, "legalBasis") => "Base légale : intérêt légitime (art. 6, par. 1, point f du RGPD).",
        (Fr, "object") => {
            "Vous pouvez vous y opposer : écrivez à {contact} ou restez hors du champ de la caméra."
        }
        (Fr, "more") => "Notice d'information complète :",

        (Es, "title") => "Análisis por cámara activo: esta pantalla mide su audiencia",
        (Es, "what") => {
            "Una cámara en esta pantalla estima cuántas personas hay delante, si miran la pantalla y la franja de edad aproximada y el género de cada una (categorización automatizada)."
        }
        (Es, "purpose") => "Sirve para medir y elegir la publicidad que se muestra aquí.",
        (Es, "noIdentification") => {
            "Nadie es identificado ni reconocido. No se guardan ni se envían imágenes: cada imagen de la cámara se analiza en este dispositivo y se descarta al instante."
        }
        (Es, "retention") => "Solo se conservan totales anónimos, durante {days} días.",
        (Es, "controller") => "Responsable: {controller}, {contact}.",
        (Es, "legalBasis") => "Base jurídica: interés legítimo (art. 6.1.f del RGPD).",
        (Es, "object") => {
            "Tiene derecho a oponerse: escriba a {contact} o manténgase fuera del campo de la cámara."
        }
        (Es, "more") => "Información completa sobre privacidad:",
        _ => "",
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The notice URL as a QR code (SVG markup); empty when the URL is too long for a QR code.
fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .quiet_zone(false)
            .build(),
        Err(_) => String::new(),
    }
}

/// What the browser measured of the rendered notice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BannerMeasurement {
    /// In the document.
    pub attached: bool,
    /// The first ancestor-or-self property that hides it (`display: none`, `visibility: hidden`,
    /// `content-visibility: hidden`), if any.
    pub hidden_by: Option<String>,
    /// Product of the opacities of the element and its ancestors.
    pub opacity: f64,
    pub width: f64,
    pub height: f64,
    pub viewport_width: f64,
    pub viewport_height: f64,
    /// Part of the element inside the viewport, 0–1 (IntersectionObserver's ratio when it has
    /// reported; the measured rectangle otherwise).
    pub in_viewport: f64,
    /// Sample points of the notice where something else is on top.
    pub covered_points: usize,
    pub sampled_points: usize,
    /// WCAG contrast ratio of the notice's text against its background.
    pub contrast: f64,
}

/// Why the notice does not count as visible (`None`: it does).
pub fn hidden_reason(m: &BannerMeasurement, min_height_px: f64) -> Option<String> {
    if !m.attached {
        return Some("the disclosure banner is not in the document".into());
    }
    if let Some(property) = &m.hidden_by {
        return Some(format!("the disclosure banner is hidden ({property})"));
    }
    if m.opacity < 0.95 {
        return Some(format!(
            "the disclosure banner is transparent (opacity {:.2})",
            m.opacity
        ));
    }
    if m.height < min_height_px || m.width < 0.5 * m.viewport_width {
        return Some(format!(
            "the disclosure banner is too small ({:.0}x{:.0} px; needs {min_height_px:.0} px high and half the width of the screen)",
            m.width, m.height
        ));
    }
    if m.in_viewport < 0.99 {
        return Some(format!(
            "the disclosure banner is {:.0} % outside the screen",
            (1.0 - m.in_viewport) * 100.0
        ));
    }
    if m.covered_points > 0 {
        return Some(format!(
            "the disclosure banner is covered by another element ({} of {} points)",
            m.covered_points, m.sampled_points
        ));
    }
    if m.contrast < 4.5 {
        return Some(format!(
            "the disclosure banner's text contrast is too low ({:.1}:1, needs 4.5:1)",
            m.contrast
        ));
    }
    None
}

/// Parses a computed CSS colour (`rgb(r, g, b)`, `rgba(r, g, b, a)` or the space-separated
/// `rgb(r g b / a)`) into 0–255 channels and alpha 0–1.
pub fn parse_css_color(text: &str) -> Option<[f64; 4]> {
    let inner = text
        .trim()
        .strip_prefix("rgba(")
        .or_else(|| text.trim().strip_prefix("rgb("))?
        .strip_suffix(')')?;
    let parts: Vec<f64> = inner
        .split([',', '/', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .ok()?;
    match parts[..] {
        [r, g, b] => Some([r, g, b, 1.0]),
        [r, g, b, a] => Some([r, g, b, a]),
        _ => None,
    }
}

/// WCAG 2 contrast ratio of a text colour over an opaque background (the text's alpha blended
/// onto the background).
pub fn contrast_ratio(text: [f64; 4], background: [f64; 4]) -> f64 {
    let blend = |i: usize| text[i] * text[3] + background[i] * (1.0 - text[3]);
    let fg = [blend(0), blend(1), blend(2)];
    let luminance = |c: [f64; 3]| {
        let channel = |v: f64| {
            let s = v / 255.0;
            if s <= 0.04045 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])
    };
    let (a, b) = (
        luminance(fg),
        luminance([background[0], background[1], background[2]]),
    );
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> BannerOptions {
        BannerOptions {
            controller: Controller {
                name: "Example Mall GmbH".into(),
                contact: "privacy@example.com".into(),
            },
            notice_url: "https://example.com/privacy".into(),
            ..BannerOptions::default()
        }
    }

    fn visible() -> BannerMeasurement {
        BannerMeasurement {
            attached: true,
            hidden_by: None,
            opacity: 1.0,
            width: 1280.0,
            height: 110.0,
            viewport_width: 1280.0,
            viewport_height: 720.0,
            in_viewport: 1.0,
            covered_points: 0,
            sampled_points: 5,
            contrast: 15.0,
        }
    }

    #[test]
    fn every_language_says_everything_the_first_layer_must() {
        let o = options();
        for lang in Language::ALL {
            for key in TEXT_KEYS {
                assert!(!o.text(lang, key).is_empty(), "{key} missing in {lang:?}");
            }
            let html = o.render_html(lang);
            assert!(html.contains("Example Mall GmbH"), "{lang:?}: controller");
            assert!(html.contains("privacy@example.com"), "{lang:?}: contact");
            assert!(html.contains("365"), "{lang:?}: retention");
            assert!(
                html.contains("https://example.com/privacy"),
                "{lang:?}: link"
            );
            assert!(html.contains("<svg"), "{lang:?}: QR code");
            assert!(html.contains(&format!("lang=\"{}\"", lang.code())));
        }
        // The texts differ per language (no English left in the translations).
        let titles: std::collections::BTreeSet<_> =
            Language::ALL.iter().map(|&l| o.text(l, "title")).collect();
        assert_eq!(titles.len(), 4);
    }

    #[test]
    fn overrides_and_placeholders_apply_and_markup_is_escaped() {
        let mut o = options();
        o.retention_days = 30;
        o.controller.name = "A & B <Shops>".into();
        o.text.insert(
            "de".into(),
            BTreeMap::from([("title".into(), "Hinweis von {controller}".into())]),
        );
        assert_eq!(o.text(Language::De, "title"), "Hinweis von A & B <Shops>");
        assert!(o.text(Language::En, "retention").contains("30 days"));
        let html = o.render_html(Language::De);
        assert!(html.contains("Hinweis von A &amp; B &lt;Shops&gt;"));
        assert!(!html.contains("<Shops>"));
    }

    #[test]
    fn languages_follow_the_browser_unless_fixed() {
        let o = options();
        assert_eq!(o.language_for(&["de-AT", "en"]), Language::De);
        assert_eq!(o.language_for(&["it", "fr-CA"]), Language::Fr);
        assert_eq!(o.language_for(&["ja"]), Language::En);
        assert_eq!(o.language_for::<&str>(&[]), Language::En);
        let fixed = BannerOptions {
            language: LanguageChoice::Es,
            ..options()
        };
        assert_eq!(fixed.language_for(&["de"]), Language::Es);
    }

    #[test]
    fn options_name_the_missing_or_wrong_field() {
        type Case = (fn(&mut BannerOptions), &'static str);
        let cases: [Case; 6] = [
            (|o| o.controller.name.clear(), "controller.name"),
            (|o| o.controller.contact = " ".into(), "controller.contact"),
            (|o| o.notice_url.clear(), "noticeUrl"),
            (|o| o.retention_days = 0, "retentionDays"),
            (
                |o| {
                    o.text.insert("it".into(), BTreeMap::new());
                },
                "text.it",
            ),
            (
                |o| {
                    o.text
                        .insert("fr".into(), BTreeMap::from([("titel".into(), "x".into())]));
                },
                "text.fr.titel",
            ),
        ];
        assert_eq!(options().validate(), Ok(()));
        for (break_it, path) in cases {
            let mut o = options();
            break_it(&mut o);
            assert_eq!(o.validate().unwrap_err().path, path);
        }
    }

    #[test]
    fn a_measured_banner_is_visible_only_when_nothing_hides_it() {
        assert_eq!(hidden_reason(&visible(), 48.0), None);
        type Case = (fn(&mut BannerMeasurement), &'static str);
        let cases: [Case; 8] = [
            (|m| m.attached = false, "not in the document"),
            (
                |m| m.hidden_by = Some("display: none".into()),
                "display: none",
            ),
            (|m| m.opacity = 0.5, "transparent"),
            (|m| m.height = 20.0, "too small"),
            (|m| m.width = 300.0, "too small"),
            (|m| m.in_viewport = 0.4, "outside the screen"),
            (|m| m.covered_points = 1, "covered"),
            (|m| m.contrast = 2.0, "contrast"),
        ];
        for (hide, expected) in cases {
            let mut m = visible();
            hide(&mut m);
            let reason = hidden_reason(&m, 48.0).expect(expected);
            assert!(reason.contains(expected), "{reason}");
        }
    }

    #[test]
    fn contrast_follows_wcag() {
        let white = parse_css_color("rgb(255, 255, 255)").unwrap();
        let black = parse_css_color("rgba(0, 0, 0, 1)").unwrap();
        assert!((contrast_ratio(white, black) - 21.0).abs() < 1e-9);
        assert!((contrast_ratio(white, white) - 1.0).abs() < 1e-9);
        let grey = parse_css_color("rgb(119 119 119)").unwrap();
        assert!((contrast_ratio(grey, white) - 4.48).abs() < 0.01);
        // Half-transparent white text on black is mid grey: low contrast.
        let faint = parse_css_color("rgba(255, 255, 255, 0.2)").unwrap();
        assert!(contrast_ratio(faint, black) < 4.5);
        assert_eq!(parse_css_color("transparent"), None);
    }
}

/// Whether the disclosure notice is readable now: the engine analyses only while `visible`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DisclosureStatus {
    pub visible: bool,
    /// Why it is not (removed, hidden, covered, too small, off screen); null while visible.
    pub reason: Option<String>,
}
