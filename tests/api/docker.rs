//! The Docker layer against the two test daemons that scripts/test starts.
use wharf::docker::{BollardHost, ContainerHost, DockerError, HostEndpoint};

use crate::helpers::env;

fn test_hosts() -> Vec<HostEndpoint> {
    let hosts: Vec<HostEndpoint> =
        env("WHARF_TEST_DOCKER_HOSTS").split(',').map(|h| HostEndpoint::parse(h).expect("a test host endpoint")).collect();
    assert_eq!(hosts.len(), 2, "scripts/test starts two test hosts");
    hosts
}

#[tokio::test]
async fn both_test_hosts_answer_ping_info_and_images() {
    let image = env("WHARF_TEST_IMAGE");
    let hosts = test_hosts();
    assert!(matches!(hosts[0], HostEndpoint::Unix(_)), "host 1 is a unix socket");
    assert!(matches!(hosts[1], HostEndpoint::Tcp { .. }), "host 2 is tcp://");
    for endpoint in hosts {
        let host = BollardHost::connect(endpoint.clone()).await.expect("connect");
        host.ping().await.expect("ping");
        let info = host.info().await.expect("info");
        assert!(!info.version.is_empty(), "{endpoint}: engine version");
        assert!(!info.api_version.is_empty(), "{endpoint}: negotiated API version");
        assert!(info.cpus >= 1 && info.memory_mb > 0, "{endpoint}: {info:?}");
        let images = host.list_images().await.expect("list images");
        assert!(images.iter().any(|i| i.tags.contains(&image)), "{endpoint}: {image} in {images:?}");
        let found = host.inspect_image(&image).await.expect("inspect the test image");
        assert!(found.id.starts_with("sha256:"));
    }
}

#[tokio::test]
async fn a_missing_image_is_a_typed_not_found() {
    let host = BollardHost::connect(test_hosts().remove(0)).await.expect("connect");
    match host.inspect_image("wharf-test/does-not-exist:1").await {
        Err(DockerError::NotFound { message, .. }) => assert!(message.contains("does-not-exist"), "{message}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_engine_is_a_clear_error() {
    let missing = HostEndpoint::parse("unix:///nonexistent/docker.sock").unwrap();
    let err = BollardHost::connect(missing).await.err().expect("no engine there");
    assert!(matches!(err, DockerError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("unix:///nonexistent/docker.sock"), "{err}");

    // A closed port on loopback: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = HostEndpoint::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let err = BollardHost::connect(closed).await.err().expect("nothing listens");
    assert!(matches!(err, DockerError::Unreachable { .. }), "{err:?}");
}
