//! The sandbox's Files API over volumes, on the wire: the seeded managed
//! volume's files, pages with tokens, uploads and their refusals, and the
//! privileges the volumes documentation lists (FIDELITY.md, Files API).

use sandbox::databricks::metastore::Common;
use sandbox::databricks::DATABRICKS_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

struct Caller {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Caller {
    fn new(sandbox: &Sandbox, login: &str) -> Caller {
        let user = sandbox.teams.user(login).unwrap();
        Caller {
            http: reqwest::Client::new(),
            base: sandbox.primary_url(),
            token: sandbox.entra.user_token(&user, "files-tests", DATABRICKS_AUDIENCE, "user_impersonation"),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&[u8]>) -> reqwest::Response {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        request.send().await.unwrap()
    }

    async fn code(&self, method: reqwest::Method, path: &str, body: Option<&[u8]>) -> (u16, String) {
        let response = self.send(method, path, body).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body["error_code"].as_str().unwrap_or_default().to_string())
    }
}

fn managed_volume_root(sandbox: &Sandbox) -> (String, String) {
    let metastore = sandbox.primary.metastore.read();
    let volume = metastore.volumes.values().find(|v| v.volume_type == "MANAGED").expect("a seeded managed volume");
    (volume.full_name(), format!("/Volumes/{}/{}/{}", volume.catalog, volume.schema, volume.name))
}

#[tokio::test]
async fn the_seeded_volume_lists_across_pages_and_downloads_with_its_metadata() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.primary.set_page_size(2);
    let alice = Caller::new(&sandbox, "alice");
    let (_, root) = managed_volume_root(&sandbox);

    // The root holds README.md, archive/, exports/, images/: two pages of two.
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = token.as_ref().map(|t| format!("?page_token={t}")).unwrap_or_default();
        let page: Value = alice
            .send(reqwest::Method::GET, &format!("/api/2.0/fs/directories{root}{query}"), None)
            .await
            .json()
            .await
            .unwrap();
        pages += 1;
        for entry in page["contents"].as_array().cloned().unwrap_or_default() {
            assert!(entry["path"].as_str().unwrap().starts_with(&root));
            names.push((entry["name"].as_str().unwrap().to_string(), entry["is_directory"].as_bool().unwrap()));
        }
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    let expected = [("README.md", false), ("archive", true), ("exports", true), ("images", true)];
    assert_eq!(names, expected.map(|(n, d)| (n.to_string(), d)).to_vec());

    let file = format!("{root}/exports/2026/01/orders.csv");
    let response = alice.send(reqwest::Method::GET, &format!("/api/2.0/fs/files{file}"), None).await;
    assert_eq!(response.status().as_u16(), 200);
    let length: usize = response.headers()["content-length"].to_str().unwrap().parse().unwrap();
    assert!(response.headers()["last-modified"].to_str().unwrap().ends_with(" GMT"));
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), length);
    let head = alice.send(reqwest::Method::HEAD, &format!("/api/2.0/fs/files{file}"), None).await;
    assert_eq!(head.headers()["content-length"].to_str().unwrap(), length.to_string());
    let ranged = alice
        .http
        .get(format!("{}/api/2.0/fs/files{file}", alice.base))
        .bearer_auth(&alice.token)
        .header("range", "bytes=3-")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    assert_eq!(ranged.bytes().await.unwrap(), bytes.slice(3..));

    let missing = alice.code(reqwest::Method::GET, &format!("/api/2.0/fs/files{root}/nope.csv"), None).await;
    assert_eq!(missing, (404, "NOT_FOUND".to_string()));
    let no_dir = alice.code(reqwest::Method::GET, &format!("/api/2.0/fs/directories{root}/nope"), None).await;
    assert_eq!(no_dir, (404, "NOT_FOUND".to_string()));
    let outside = alice.code(reqwest::Method::GET, "/api/2.0/fs/directories/Workspace/Users", None).await;
    assert_eq!(outside, (400, "INVALID_PARAMETER_VALUE".to_string()), "only volumes are modelled");
}

#[tokio::test]
async fn uploads_need_a_folder_honour_overwrite_and_deletes_take_files_only() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Caller::new(&sandbox, "alice");
    let (_, root) = managed_volume_root(&sandbox);
    let put = reqwest::Method::PUT;
    let file = format!("/api/2.0/fs/files{root}/new/a.txt");

    assert_eq!(alice.code(put.clone(), &file, Some(b"x")).await, (404, "NOT_FOUND".to_string()), "no folder yet");
    let made = alice.send(put.clone(), &format!("/api/2.0/fs/directories{root}/new"), None).await;
    assert_eq!(made.status().as_u16(), 200);
    assert_eq!(
        alice.send(put.clone(), &format!("/api/2.0/fs/directories{root}/new"), None).await.status().as_u16(),
        200
    );
    assert_eq!(alice.send(put.clone(), &file, Some(b"first")).await.status().as_u16(), 204);
    let first = sandbox.primary.files.get(&format!("{root}/new/a.txt")).unwrap();
    assert_eq!(&first[..], b"first");
    let kept = alice.code(put.clone(), &format!("{file}?overwrite=false"), Some(b"second")).await;
    assert_eq!(kept, (409, "ALREADY_EXISTS".to_string()));
    assert_eq!(
        alice.send(put.clone(), &format!("{file}?overwrite=true"), Some(b"second")).await.status().as_u16(),
        204
    );
    assert_eq!(&sandbox.primary.files.get(&format!("{root}/new/a.txt")).unwrap()[..], b"second");
    let on_folder = alice.code(put.clone(), &format!("/api/2.0/fs/files{root}/new"), Some(b"x")).await;
    assert_eq!(on_folder, (409, "RESOURCE_CONFLICT".to_string()));
    let not_empty = alice.code(reqwest::Method::DELETE, &format!("/api/2.0/fs/directories{root}/new"), None).await;
    assert_eq!(not_empty, (409, "RESOURCE_CONFLICT".to_string()));
    assert_eq!(alice.send(reqwest::Method::DELETE, &file, None).await.status().as_u16(), 204);
    assert_eq!(alice.code(reqwest::Method::DELETE, &file, None).await, (404, "NOT_FOUND".to_string()));
    let gone = alice.send(reqwest::Method::DELETE, &format!("/api/2.0/fs/directories{root}/new"), None).await;
    assert_eq!(gone.status().as_u16(), 200);
}

#[tokio::test]
async fn reading_needs_read_volume_and_writing_write_volume_an_admin_alone_has_neither() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let alice = Caller::new(&sandbox, "alice");
    let (volume, root) = managed_volume_root(&sandbox);
    let list = format!("/api/2.0/fs/directories{root}");
    let upload = format!("/api/2.0/fs/files{root}/w.txt");
    {
        // Nobody alice is owns the volume or its parents; her groups may use them.
        let mut metastore = sandbox.primary.metastore.write();
        let parts: Vec<String> = volume.split('.').map(str::to_string).collect();
        let schema = format!("{}.{}", parts[0], parts[1]);
        let strip = |common: &mut Common| {
            common.owner = "someone@contoso.example".into();
            common.grants.clear();
            common.grants.insert("account users".into(), ["USE_CATALOG", "USE_SCHEMA"].map(String::from).into());
        };
        strip(&mut metastore.catalogs.get_mut(&parts[0]).unwrap().common);
        strip(&mut metastore.schemas.get_mut(&schema).unwrap().common);
        strip(&mut metastore.volumes.get_mut(&volume).unwrap().common);
    }
    assert_eq!(alice.code(reqwest::Method::GET, &list, None).await, (403, "PERMISSION_DENIED".to_string()));
    let grant = |privileges: &[&str]| {
        let mut metastore = sandbox.primary.metastore.write();
        let grants = &mut metastore.volumes.get_mut(&volume).unwrap().common.grants;
        grants.insert("account users".into(), privileges.iter().map(|p| p.to_string()).collect());
    };
    grant(&["READ_VOLUME"]);
    assert_eq!(alice.send(reqwest::Method::GET, &list, None).await.status().as_u16(), 200);
    assert_eq!(alice.code(reqwest::Method::PUT, &upload, Some(b"x")).await, (403, "PERMISSION_DENIED".to_string()));
    grant(&["READ_VOLUME", "WRITE_VOLUME"]);
    assert_eq!(alice.send(reqwest::Method::PUT, &upload, Some(b"x")).await.status().as_u16(), 204);
}
