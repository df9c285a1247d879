//! The container image infra/bot.json runs. scripts/build-image assembles it here (root
//! filesystem from Debian packages, OCI layout written with tar and sha256sum: no Docker
//! engine, no base image pulled); this test reads the layout as a runtime would (index →
//! manifest → config → layer), unpacks the one layer into a fresh directory, runs the image's
//! entrypoint there in a chroot as the image's user, pointed at the sandbox, and waits for
//! /readyz (green once the bot has fetched the Bot Framework's and Entra ID's signing keys
//! from the sandbox, so the image's libraries, certificates and user all work).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn blob(oci: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    std::fs::read(oci.join("blobs/sha256").join(hex)).unwrap_or_else(|e| panic!("blob {digest}: {e}"))
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

/// Kills the bot when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_image_builds_here_and_its_entrypoint_answers_readyz_against_the_sandbox() {
    let built = Command::new(root().join("scripts/build-image"))
        .args(["--binary", env!("CARGO_BIN_EXE_drbot")])
        .current_dir(root())
        .output()
        .expect("scripts/build-image runs");
    assert!(built.status.success(), "build-image failed: {}", String::from_utf8_lossy(&built.stderr));
    let summary = String::from_utf8_lossy(&built.stdout);
    assert!(summary.lines().last().is_some_and(|l| l.starts_with("image: sha256:")), "{summary}");

    // The OCI layout, read as a runtime reads it; every blob matches its digest.
    let oci = root().join("build/image/oci");
    assert_eq!(json(&std::fs::read(oci.join("oci-layout")).unwrap())["imageLayoutVersion"], "1.0.0");
    let index = json(&std::fs::read(oci.join("index.json")).unwrap());
    let manifest_digest = index["manifests"][0]["digest"].as_str().expect("a manifest").to_string();
    let manifest = json(&blob(&oci, &manifest_digest));
    let config = json(&blob(&oci, manifest["config"]["digest"].as_str().unwrap()));
    for digest in [
        &manifest_digest,
        manifest["config"]["digest"].as_str().unwrap(),
        manifest["layers"][0]["digest"].as_str().unwrap(),
    ] {
        use sha2::Digest;
        let actual = format!("sha256:{:x}", sha2::Sha256::digest(blob(&oci, digest)));
        assert_eq!(&actual, digest, "a blob that does not match its digest");
    }
    let image = &config["config"];
    assert_eq!(image["User"], "65532:65532", "the image runs as a non-root user");
    assert_eq!(image["Entrypoint"][0], "/app/drbot");
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(1));

    // The layer, unpacked into a fresh directory: only the binary, the card templates, the
    // certificates, the libraries the binary links, the user and the data directory.
    let unpacked = tempfile::tempdir().unwrap();
    let layer = unpacked.path().join("layer.tar.gz");
    std::fs::write(&layer, blob(&oci, manifest["layers"][0]["digest"].as_str().unwrap())).unwrap();
    let rootfs = unpacked.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    let untar = Command::new("tar").arg("-xzf").arg(&layer).arg("-C").arg(&rootfs).status().unwrap();
    assert!(untar.success());
    for path in ["app/drbot", "app/adaptive-cards/help.json", "etc/ssl/certs/ca-certificates.crt", "etc/passwd"] {
        assert!(rootfs.join(path).exists(), "the image lacks /{path}");
    }
    assert!(!rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin").exists(), "no shell, no tools");

    // The entrypoint, in a chroot of the image's root filesystem as the image's user, with the
    // image's environment, against the sandbox.
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    std::fs::create_dir_all(rootfs.join("etc/drbot")).unwrap();
    std::fs::write(rootfs.join("etc/drbot/drbot.toml"), sandbox.bot_config_toml(&listen, false)).unwrap();
    let user = image["User"].as_str().unwrap();
    // Found on this PATH: the child's environment is the image's alone.
    let chroot = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("chroot"))
        .find(|path| path.is_file())
        .expect("chroot (coreutils) on PATH");
    let mut command = Command::new(chroot);
    command.arg(format!("--userspec={user}")).arg(&rootfs);
    command.args(image["Entrypoint"].as_array().unwrap().iter().filter_map(Value::as_str));
    command.args(["serve", "--config", "/etc/drbot/drbot.toml"]);
    command.env_clear();
    for pair in image["Env"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let (key, value) = pair.split_once('=').unwrap();
        command.env(key, value);
    }
    // chroot starts in /, where a runtime would start in WorkingDir: the data directory is
    // given as infra/bot.json gives its own, by environment.
    command.env("DRBOT__STORE__DATA_DIR", image["WorkingDir"].as_str().expect("a WorkingDir"));
    let log = unpacked.path().join("drbot.log");
    command.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
    let mut bot = Running(command.spawn().expect("chroot runs (the test needs root, as CI has)"));

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = bot.0.try_wait().unwrap() {
            panic!("the image's entrypoint exited ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        let ready = client.get(format!("http://{listen}/readyz")).send().await;
        if ready.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never answered 200: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client.get(format!("http://{listen}/healthz")).send().await.unwrap().text().await.unwrap(), "ok");
}
