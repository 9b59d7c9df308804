//! Names of what upsync writes: UpsyncedObjects in the ITS and mirrors in the WDS.
//!
//! A mirror keeps its source's kind and namespace and is named `<wec>-<name>-<hash>`, where
//! `<hash>` is 8 hex digits of sha256 over `<wec>/<name>`, and the `<wec>-<name>` prefix is cut
//! to 54 characters: so the name is at most 63 characters (valid even for kinds whose names
//! must be DNS labels, like Services, when the source name is), and two WECs (or a WEC name
//! and a source name that merely concatenate alike, such as `a` + `b-c` and `a-b` + `c`) never
//! produce the same name.

use sha2::Digest;

/// Most characters of the readable part of a mirror name.
const MIRROR_PREFIX_MAX: usize = 54;

fn short_hash(s: &str) -> String {
    hex::encode(&sha2::Sha256::digest(s.as_bytes())[..4])
}

/// The WDS name of the mirror of object `name` of WEC `wec`.
pub fn mirror_name(wec: &str, name: &str) -> String {
    let mut prefix = format!("{wec}-{name}");
    if prefix.len() > MIRROR_PREFIX_MAX {
        let mut cut = MIRROR_PREFIX_MAX;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    let prefix = prefix.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{prefix}-{}", short_hash(&format!("{wec}/{name}")))
}

/// The name of the UpsyncedObject (in the WEC's mailbox) carrying object `namespace/name` of
/// `(group, resource)` for WDS `wds`: readable `<resource>-<namespace>-<name>`, lowercased and
/// cut, then a hash of the full identity.
pub fn wrapper_name(wds: &str, group: &str, resource: &str, namespace: &str, name: &str) -> String {
    let raw = if namespace.is_empty() {
        format!("{resource}-{name}")
    } else {
        format!("{resource}-{namespace}-{name}")
    };
    let mut clean: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean.truncate(200);
    let clean = clean.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let h = hex::encode(
        &sha2::Sha256::digest(format!("{wds}/{group}/{resource}/{namespace}/{name}").as_bytes())
            [..6],
    );
    if clean.is_empty() {
        format!("o-{h}")
    } else {
        format!("{clean}-{h}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_names_do_not_collide_and_stay_dns_labels() {
        let a = mirror_name("cluster1", "report");
        let b = mirror_name("cluster2", "report");
        assert!(a.starts_with("cluster1-report-") && b.starts_with("cluster2-report-"));
        assert_ne!(a, b);
        // Same concatenation, different split.
        assert_ne!(mirror_name("a", "b-c"), mirror_name("a-b", "c"));
        let long = mirror_name("cluster1", &"x".repeat(63));
        assert_eq!(long.len(), 63, "{long}");
        assert!(
            kubestellar_apimachinery::validation::is_dns1123_label(&long).is_empty(),
            "{long}"
        );
        assert_eq!(mirror_name("cluster1", "report"), a, "stable");
    }

    #[test]
    fn wrapper_names_are_valid_and_distinct() {
        let n = wrapper_name("wds1", "", "configmaps", "ns", "My_Name");
        assert!(n.starts_with("configmaps-ns-my-name-"), "{n}");
        assert!(
            kubestellar_apimachinery::validation::is_dns1123_subdomain(&n).is_empty(),
            "{n}"
        );
        assert_ne!(n, wrapper_name("wds2", "", "configmaps", "ns", "My_Name"));
        assert_ne!(n, wrapper_name("wds1", "", "configmaps", "ns", "my-name"));
        assert_ne!(
            wrapper_name("wds1", "", "configmaps", "a-b", "c"),
            wrapper_name("wds1", "", "configmaps", "a", "b-c")
        );
        let long = wrapper_name("wds1", "", "configmaps", "", &"y".repeat(253));
        assert!(long.len() <= 253);
    }
}
