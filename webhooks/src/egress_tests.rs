use super::*;

fn strict() -> Egress {
    Egress::default()
}

#[test]
fn a_public_https_url_is_admitted() {
    for url in ["https://hooks.example.com/ledger", "https://93.184.215.14/x", "https://[2606:4700::1111]/x"] {
        assert!(strict().check_url(url).is_ok(), "{url}");
    }
}

#[test]
fn every_non_public_address_class_is_refused_by_default() {
    let cases = [
        ("https://127.0.0.1/", "loopback"),
        ("https://127.1.2.3/", "loopback"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://10.1.2.3/", "private"),
        ("https://172.20.0.1/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://100.64.0.1/", "shared (CGNAT)"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[::1]/", "loopback"),
        ("https://[::]/", "unspecified"),
        ("https://[fd00::1]/", "unique-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[::ffff:127.0.0.1]/", "IPv4-mapped"),
        ("https://[::ffff:8.8.8.8]/", "IPv4-mapped"),
        ("https://[64:ff9b::a00:1]/", "IPv4-translated (NAT64)"),
    ];
    for (url, class) in cases {
        match strict().check_url(url) {
            Err(Refusal::Address { class: found, .. }) => assert_eq!(found, class, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[test]
fn an_address_written_another_way_is_still_the_same_address() {
    // The URL parser normalises decimal, octal and short forms before the check.
    for url in ["https://2130706433/", "https://0x7f.0.0.1/", "https://0177.0.0.1/", "https://127.1/"] {
        let refused = strict().check_url(url);
        assert!(matches!(refused, Err(Refusal::Address { class: "loopback", .. })), "{url}: {refused:?}");
    }
}

#[test]
fn plain_http_and_other_schemes_are_refused_with_their_own_codes() {
    assert_eq!(strict().check_url("http://hooks.example.com/").map_err(|e| e.code()), Err("url_scheme_refused"));
    for bad in ["ftp://example.com/", "file:///etc/passwd", "not a url", "https://", "mailto:a@b.c"] {
        assert_eq!(strict().check_url(bad).map_err(|e| e.code()), Err("url_invalid"), "{bad}");
    }
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    assert_eq!(strict().check_url(&long).map_err(|e| e.code()), Err("url_invalid"));
}

#[test]
fn allowed_hosts_admit_what_they_name_plain_http_included_and_nothing_else() {
    let egress = Egress::parse("receiver.test, 127.0.0.0/8,::1").expect("a valid list");
    assert!(egress.check_url("http://127.0.0.1:9000/hook").is_ok());
    assert!(egress.check_url("http://[::1]:9000/hook").is_ok());
    assert!(egress.check_url("http://receiver.test:9000/hook").is_ok());
    assert!(egress.check_addr("receiver.test", "10.0.0.1".parse().expect("ip")).is_ok());
    assert!(egress.check_url("https://10.0.0.1/").is_err(), "only what is named");
    assert!(egress.check_url("http://other.test/").is_err());
    assert!(Egress::parse("bad host!").is_err());
}

#[test]
fn at_connect_time_a_name_that_resolves_to_a_private_address_is_refused() {
    let egress = strict();
    assert!(egress.check_url("https://rebind.example/").is_ok(), "a name is checked when it is dialled");
    let refused = egress.check_addr("rebind.example", "127.0.0.1".parse().expect("ip"));
    assert_eq!(refused.map_err(|e| e.code()), Err("url_address_refused"));
    assert!(egress.check_addr("rebind.example", "93.184.215.14".parse().expect("ip")).is_ok());
}
