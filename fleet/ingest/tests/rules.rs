//! Rules sent to screens, against a real ClickHouse 18.16 server: an editor publishes to a tag,
//! a screen and the fleet; each screen gets the newest document meant for it (its own, else its
//! tags', else the fleet's) with an ETag, and a 304 when it has it; a document a kiosk would
//! refuse is refused with every issue; only editors publish; a screen's heartbeat says which
//! rules it plays by and why it refused newer ones; the query gives the same rows on chdb-core.
// Tests may run long: a scenario reads best as one story (the 80-line limit is for the code).
#![allow(clippy::too_many_lines)]

mod support;

use glance::fleet::{
    CameraState, HealthBackend, Heartbeat, Record, RulesHealth, RulesSource, ScreenHealth,
};
use serde_json::Value;
use support::{ClickHouseServer, Service, TempDir, batch, post};

const LOBBY: (&str, &str) = ("lobby-1", "token-of-lobby-1");
const FOOD: (&str, &str) = ("food-2", "token-of-food-2");
const EDITOR: &str = "token-of-the-marketing-team";
const READER: &str = "token-of-the-dashboard";

fn config(clickhouse_url: &str) -> String {
    let hash = glance_ingest::hash_token;
    format!(
        "listen = \"127.0.0.1:0\"\n\
         [clickhouse]\nurl = \"{clickhouse_url}\"\nuser = \"glance_ingest\"\npassword = \"ingest-dev-password\"\n\
         reader_password = \"reader-dev-password\"\n\
         [[screens]]\nid = \"{}\"\ntoken_sha256 = \"{}\"\ntags = [\"entrance\"]\n\
         [[screens]]\nid = \"{}\"\ntoken_sha256 = \"{}\"\ntags = [\"food\", \"entrance\"]\n\
         [[readers]]\nname = \"dashboard\"\ntoken_sha256 = \"{}\"\n\
         [[editors]]\nname = \"marketing\"\ntoken_sha256 = \"{}\"\n",
        LOBBY.0,
        hash(LOBBY.1),
        FOOD.0,
        hash(FOOD.1),
        hash(READER),
        hash(EDITOR)
    )
}

/// A valid rules document whose default loop is `ad`.
fn rules(ad: &str) -> String {
    serde_json::json!({
        "version": 1,
        "timeZone": "UTC",
        "ads": [{ "id": ad, "media": format!("/ads/{ad}.svg"), "kind": "image", "durationS": 5 }],
        "defaultLoop": [ad],
        "rules": [],
    })
    .to_string()
}

struct Client {
    base: String,
}

impl Client {
    fn publish(&self, target: &str, document: &str, token: &str) -> (u16, Value) {
        let response = reqwest::blocking::Client::new()
            .put(format!("{}/v1/fleet/rules?target={target}", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .body(document.to_string())
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&response.text().unwrap()).unwrap(),
        )
    }

    /// (status, ETag, body) of a screen's `GET /v1/rules`.
    fn fetch(&self, token: &str, if_none_match: Option<&str>) -> (u16, Option<String>, String) {
        let mut request = reqwest::blocking::Client::new()
            .get(format!("{}/v1/rules", self.base))
            .header("Authorization", format!("Bearer {token}"));
        if let Some(etag) = if_none_match {
            request = request.header("If-None-Match", etag);
        }
        let response = request.send().unwrap();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        (response.status().as_u16(), etag, response.text().unwrap())
    }
}

#[test]
fn published_rules_reach_the_screens_they_are_meant_for() {
    let clickhouse = ClickHouseServer::start();
    let service = Service::start(&config(&clickhouse.url()));
    let client = Client {
        base: service.url.replace("/v1/records", ""),
    };

    // Nothing published: the screen plays by its own rules.
    let (status, _, body) = client.fetch(LOBBY.1, None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("noRules"));

    // To a tag: both screens have it.
    let entrance = rules("brand-a");
    let (status, published) = client.publish("tag:entrance", &entrance, EDITOR);
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["target"], "tag:entrance");
    assert_eq!(published["screens"], serde_json::json!([LOBBY.0, FOOD.0]));
    let etag = published["etag"].as_str().unwrap().to_string();
    for token in [LOBBY.1, FOOD.1] {
        let (status, got, body) = client.fetch(token, None);
        assert_eq!((status, got.as_deref()), (200, Some(etag.as_str())));
        assert_eq!(body, entrance);
    }
    // Unchanged: a 304, no body.
    let (status, got, body) = client.fetch(LOBBY.1, Some(&etag));
    assert_eq!(
        (status, got.as_deref(), body.as_str()),
        (304, Some(etag.as_str()), "")
    );

    // A screen's own document wins over its tags'; the fleet's reaches no screen that has one.
    let food = rules("menu-salad");
    let (status, published) = client.publish(&format!("screen:{}", FOOD.0), &food, EDITOR);
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["screens"], serde_json::json!([FOOD.0]));
    assert_eq!(client.fetch(FOOD.1, None).2, food);
    let (status, stale, _) = client.fetch(FOOD.1, Some(&etag));
    assert_eq!(status, 200, "a new document for the food court");
    assert_ne!(stale.as_deref(), Some(etag.as_str()));
    assert_eq!(client.fetch(LOBBY.1, None).2, entrance);
    let (status, published) = client.publish("fleet", &rules("coffee"), EDITOR);
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["screens"], serde_json::json!([]));
    // A newer tag document wins over an older one of another tag.
    let (_, published) = client.publish("tag:food", &rules("group-deal"), EDITOR);
    assert_eq!(
        published["screens"],
        serde_json::json!([]),
        "food-2 has its own"
    );
    assert_eq!(client.fetch(LOBBY.1, None).2, entrance);

    // A document a kiosk would refuse is refused here, with every issue.
    let mut broken: Value = serde_json::from_str(&rules("brand-a")).unwrap();
    broken["defaultLoop"] = serde_json::json!(["no-such-ad"]);
    let (status, refused) = client.publish("tag:entrance", &broken.to_string(), EDITOR);
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["code"], "invalidRules");
    let issues = refused["error"]["issues"].as_array().unwrap();
    assert!(
        issues.iter().any(|i| i["path"] == "$.defaultLoop[0]"),
        "{refused}"
    );
    assert_eq!(client.fetch(LOBBY.1, None).2, entrance, "nothing changed");
    let (status, refused) = client.publish("tag:nowhere", &entrance, EDITOR);
    assert_eq!(status, 400);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nowhere")
    );

    // Only editors publish; an editor's token neither fetches a screen's rules nor reads.
    for token in [READER, LOBBY.1] {
        let (status, refused) = client.publish("fleet", &entrance, token);
        assert_eq!(status, 403);
        assert_eq!(refused["error"]["code"], "notAnEditor");
    }
    assert_eq!(client.publish("fleet", &entrance, "nobody").0, 401);
    assert_eq!(client.fetch(EDITOR, None).0, 401);
    let screens = format!("{}/v1/fleet/screens", client.base);
    let read_by = |token: &str| {
        reqwest::blocking::Client::new()
            .get(&screens)
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .unwrap()
    };
    assert_eq!(read_by(EDITOR).status().as_u16(), 401);

    // The heartbeat says which rules a screen plays by, and why it refused newer ones.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let problem = "ad \"x\": its media /ads/x.svg answered 404";
    let beat = Record::Heartbeat(Heartbeat::new(
        LOBBY.0,
        now,
        ScreenHealth {
            camera: CameraState::Live,
            analysed_fps: 5.0,
            backend: HealthBackend::Cpu,
            outbox_depth: 0,
            outbox_dropped: 0,
            last_ack_ms: None,
            rules: Some(RulesHealth {
                source: RulesSource::Fleet,
                etag: Some(etag.clone()),
                problem: Some(problem.into()),
            }),
        },
    ));
    assert_eq!(post(&service.url, Some(LOBBY.1), &batch(&[beat])).0, 200);
    let listed: Value = serde_json::from_str(&read_by(READER).text().unwrap()).unwrap();
    assert_eq!(
        listed["screens"][0]["health"]["rules"],
        serde_json::json!({ "source": "fleet", "etag": etag, "problem": problem })
    );

    // The current documents read the same on the current engine.
    let query = glance_ingest::rules::current_query("glance");
    let on_server = Value::Array(clickhouse.query(&query));
    let dir = TempDir::new("rules-queries");
    let file = dir.0.join("queries.sql");
    let rows: Vec<String> = on_server
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            format!(
                "({}, 0, {}, {}, {}, 'marketing')",
                glance_ingest::clickhouse::quote(row["target"].as_str().unwrap()),
                row["publishedMs"].as_str().unwrap(),
                glance_ingest::clickhouse::quote(row["etag"].as_str().unwrap()),
                glance_ingest::clickhouse::quote(row["document"].as_str().unwrap()),
            )
        })
        .collect();
    std::fs::write(
        &file,
        format!(
            "-- name: publish\nINSERT INTO glance.rules_published \
             (target, published, published_ms, etag, document, publisher) VALUES {};\n\n\
             -- name: current\n{query};\n",
            rows.join(", ")
        ),
    )
    .unwrap();
    let on_chdb = support::run_on_chdb(&[], &file);
    assert_eq!(on_server.as_array().unwrap().len(), 4);
    assert_eq!(on_chdb["current"], on_server);
}
