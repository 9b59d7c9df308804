//! The space's certificate authority: created at first start and kept in `DIR/pki/`, it signs
//! the serving certificate and client certificates (CN = user, O = groups).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::SecurityError;
use super::files;

/// How long the CA is valid.
const CA_DAYS: i64 = 3650;
/// How long serving and client certificates are valid.
const LEAF_DAYS: i64 = 365;
/// Certificates with less than this left are re-issued at start.
const RENEW_BEFORE_DAYS: i64 = 30;

/// A client certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct ClientCredential {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: String,
}

/// The CA of one space.
pub struct Pki {
    dir: PathBuf,
    name: String,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    admin: ClientCredential,
}

fn cert_err(what: &str) -> impl FnOnce(rcgen::Error) -> SecurityError + '_ {
    move |e| SecurityError::Certificate {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Validity from yesterday (clock skew) to `days` from now.
fn validity(params: &mut CertificateParams, days: i64) {
    use chrono::Datelike;
    let ymd = |d: chrono::DateTime<chrono::Utc>| {
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    let now = chrono::Utc::now();
    params.not_before = ymd(now - chrono::Duration::days(1));
    params.not_after = ymd(now + chrono::Duration::days(days));
}

impl Pki {
    /// Loads the CA of space `name` from `dir`, or creates it (and the directory) when absent;
    /// also loads, or issues, the admin client certificate.
    pub fn open(name: &str, dir: &Path) -> Result<Pki, SecurityError> {
        files::private_dir(dir)?;
        let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        let (ca_pem, issuer) = match (files::read_optional(&crt)?, files::read_optional(&key)?) {
            (Some(cert_pem), Some(key_pem)) => {
                let kp = KeyPair::from_pem(&key_pem).map_err(cert_err("ca.key"))?;
                let issuer = Issuer::from_ca_cert_pem(&cert_pem, kp).map_err(cert_err("ca.crt"))?;
                (cert_pem, issuer)
            }
            (None, None) => {
                let kp = KeyPair::generate().map_err(cert_err("ca"))?;
                let mut params = CertificateParams::default();
                let mut dn = DistinguishedName::new();
                dn.push(
                    DnType::CommonName,
                    format!("{name}-ca@{}", chrono::Utc::now().timestamp()),
                );
                params.distinguished_name = dn;
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                validity(&mut params, CA_DAYS);
                let cert = params.self_signed(&kp).map_err(cert_err("ca"))?;
                files::write(&key, kp.serialize_pem().as_bytes(), true)?;
                files::write(&crt, cert.pem().as_bytes(), false)?;
                (cert.pem(), Issuer::new(params, kp))
            }
            _ => {
                return Err(SecurityError::Certificate {
                    what: "ca".into(),
                    message: format!(
                        "{} and {} must both exist or both be absent; refusing to replace a CA that clients may trust",
                        crt.display(),
                        key.display()
                    ),
                });
            }
        };
        let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| {
            SecurityError::Certificate {
                what: "ca.crt".into(),
                message: e.to_string(),
            }
        })?;
        let mut pki = Pki {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            ca_pem,
            ca_der,
            issuer,
            admin: ClientCredential {
                cert_pem: String::new(),
                key_pem: String::new(),
            },
        };
        pki.admin = pki.load_or_issue("admin", &|p| {
            p.issue_client(super::ADMIN_USER, &[super::MASTERS_GROUP.to_string()])
        })?;
        Ok(pki)
    }

    /// The CA certificate (PEM): what clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate (DER).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// The admin client credential (CN kubestellar-admin, O system:masters).
    pub fn admin(&self) -> &ClientCredential {
        &self.admin
    }

    /// Issues a client certificate for `user` in `groups` (CN = user, O = groups), valid a
    /// year. Nothing is stored: the caller keeps the credential.
    pub fn issue_client(
        &self,
        user: &str,
        groups: &[String],
    ) -> Result<ClientCredential, SecurityError> {
        super::tokens::check_identity(user, groups)?;
        let kp = KeyPair::generate().map_err(cert_err(user))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, user);
        for g in groups {
            dn.push(DnType::OrganizationName, g.as_str());
        }
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, LEAF_DAYS);
        let cert = params
            .signed_by(&kp, &self.issuer)
            .map_err(cert_err(user))?;
        Ok(ClientCredential {
            cert_pem: cert.pem(),
            key_pem: kp.serialize_pem(),
        })
    }

    /// The serving certificate chain and key for `sans` (besides 127.0.0.1, ::1 and
    /// localhost): the stored one when it covers them and is not about to expire, else a new
    /// one, stored.
    pub(crate) fn serving(
        &self,
        extra_sans: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), SecurityError> {
        let mut sans: Vec<String> = vec!["127.0.0.1".into(), "::1".into(), "localhost".into()];
        for s in extra_sans {
            let s = s.trim_start_matches('[').trim_end_matches(']').to_string();
            if !s.is_empty() && !sans.contains(&s) {
                sans.push(s);
            }
        }
        let cred = self.load_or_issue_if("server", &|pem| covers(pem, &sans), &|p| {
            p.issue_serving(&sans)
        })?;
        let chain = CertificateDer::pem_slice_iter(cred.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SecurityError::Certificate {
                what: "server.crt".into(),
                message: e.to_string(),
            })?;
        let key = PrivateKeyDer::from_pem_slice(cred.key_pem.as_bytes()).map_err(|e| {
            SecurityError::Certificate {
                what: "server.key".into(),
                message: e.to_string(),
            }
        })?;
        Ok((chain, key))
    }

    fn issue_serving(&self, sans: &[String]) -> Result<ClientCredential, SecurityError> {
        let kp = KeyPair::generate().map_err(cert_err("server"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{}-serving", self.name));
        params.distinguished_name = dn;
        params.subject_alt_names = sans
            .iter()
            .map(|s| match s.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => s.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()
            .map_err(cert_err("server"))?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, LEAF_DAYS);
        let cert = params
            .signed_by(&kp, &self.issuer)
            .map_err(cert_err("server"))?;
        Ok(ClientCredential {
            cert_pem: cert.pem(),
            key_pem: kp.serialize_pem(),
        })
    }

    fn load_or_issue(
        &self,
        stem: &str,
        issue: &dyn Fn(&Pki) -> Result<ClientCredential, SecurityError>,
    ) -> Result<ClientCredential, SecurityError> {
        self.load_or_issue_if(stem, &|_| true, issue)
    }

    /// `DIR/pki/<stem>.crt|key` when both exist, were issued by this CA, are valid for a while
    /// yet and pass `fits`; otherwise issued anew and stored.
    fn load_or_issue_if(
        &self,
        stem: &str,
        fits: &dyn Fn(&str) -> bool,
        issue: &dyn Fn(&Pki) -> Result<ClientCredential, SecurityError>,
    ) -> Result<ClientCredential, SecurityError> {
        let crt = self.dir.join(format!("{stem}.crt"));
        let key = self.dir.join(format!("{stem}.key"));
        if let (Some(cert_pem), Some(key_pem)) =
            (files::read_optional(&crt)?, files::read_optional(&key)?)
            && self.still_good(&cert_pem)
            && fits(&cert_pem)
            && KeyPair::from_pem(&key_pem).is_ok()
        {
            return Ok(ClientCredential { cert_pem, key_pem });
        }
        let cred = issue(self)?;
        files::write(&key, cred.key_pem.as_bytes(), true)?;
        files::write(&crt, cred.cert_pem.as_bytes(), false)?;
        Ok(cred)
    }

    /// Issued by this CA and valid for more than [`RENEW_BEFORE_DAYS`].
    fn still_good(&self, cert_pem: &str) -> bool {
        let Ok(der) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
            return false;
        };
        let Ok((_, ca)) = x509_parser::parse_x509_certificate(&self.ca_der) else {
            return false;
        };
        let Ok((_, c)) = x509_parser::parse_x509_certificate(&der) else {
            return false;
        };
        let left = c.validity().not_after.timestamp() - chrono::Utc::now().timestamp();
        c.issuer().as_raw() == ca.subject().as_raw() && left > RENEW_BEFORE_DAYS * 86_400
    }
}

/// True when the certificate names every one of `sans`.
fn covers(cert_pem: &str, sans: &[String]) -> bool {
    let Ok(der) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
        return false;
    };
    let Ok((_, c)) = x509_parser::parse_x509_certificate(&der) else {
        return false;
    };
    let Ok(Some(ext)) = c.subject_alternative_name() else {
        return false;
    };
    let mut have: Vec<String> = Vec::new();
    for n in &ext.value.general_names {
        match n {
            x509_parser::extensions::GeneralName::DNSName(d) => have.push(d.to_string()),
            x509_parser::extensions::GeneralName::IPAddress(b) => {
                let ip = match b.len() {
                    4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    have.push(ip.to_string());
                }
            }
            _ => {}
        }
    }
    sans.iter().all(|s| {
        let norm = s
            .parse::<IpAddr>()
            .map(|ip| ip.to_string())
            .unwrap_or(s.clone());
        have.contains(&norm)
    })
}
