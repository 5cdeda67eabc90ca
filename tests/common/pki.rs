//! A throwaway mesh CA for mTLS tests: server certificate for Envoy, client
//! certificates carrying SPIFFE IDs as URI SANs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

use super::TempDir;

pub struct Pki {
    pub dir: TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "chaperone test mesh CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Pki {
    /// Writes ca.pem, server.pem and server-key.pem into a fresh directory.
    pub fn new() -> Self {
        let dir = TempDir::new("pki");
        let ca = ca();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.path("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path("server-key.pem"), key.serialize_pem()).unwrap();
        Self { dir, ca }
    }

    /// Issues a certificate (DNS/IP names and an optional SPIFFE URI) from
    /// this CA and writes `<name>.pem` and `<name>-key.pem`.
    pub fn write_leaf(
        &self,
        name: &str,
        dns: &[&str],
        spiffe_id: Option<&str>,
    ) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(dns.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        if let Some(id) = spiffe_id {
            params
                .subject_alt_names
                .push(SanType::URI(id.try_into().unwrap()));
        }
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (c, k) = (
            self.dir.path(&format!("{name}.pem")),
            self.dir.path(&format!("{name}-key.pem")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    pub fn ca_certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.ca.pem().as_bytes()).unwrap()
    }

    /// A client identity (certificate and key PEM) for `spiffe_id`, issued
    /// by this CA, or by an unrelated CA when `foreign`.
    pub fn client_identity(&self, spiffe_id: &str, foreign: bool) -> reqwest::Identity {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "workload");
        params.subject_alt_names = vec![SanType::URI(spiffe_id.try_into().unwrap())];
        let cert = if foreign {
            params.signed_by(&key, &ca()).unwrap()
        } else {
            params.signed_by(&key, &self.ca).unwrap()
        };
        let pem = format!("{}{}", cert.pem(), key.serialize_pem());
        reqwest::Identity::from_pem(pem.as_bytes()).unwrap()
    }

    pub fn client(&self, identity: Option<reqwest::Identity>) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .tls_certs_only([self.ca_certificate()]);
        if let Some(id) = identity {
            b = b.identity(id);
        }
        b.build().unwrap()
    }
}
