//! TLS to Elasticsearch: certificate verification is on by default, a private CA is
//! trusted through `ssl_certificate_authorities`, and `ssl_verification_mode => none`
//! turns verification off. The server is a small Python HTTPS bulk endpoint with a
//! certificate from a CA made by openssl for the test.

mod common;

use common::{append, temp_dir, wait_for, Agent};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const SERVER: &str = r#"
import gzip, http.server, json, ssl, sys
count_file = sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self): self.reply({"version": {"number": "8.15.0"}})
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reply({"acknowledged": True})
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        n = len([l for l in body.split(b"\n") if l]) // 2
        total = int(open(count_file).read() or 0) + n
        open(count_file, "w").write(str(total))
        self.reply({"errors": False, "items": [{"create": {"status": 201}}] * n})
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=logship test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

struct Server {
    child: Child,
    port: String,
    count: std::path::PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let count = dir.join("count.txt");
        std::fs::write(&count, "0").unwrap();
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .arg(&count)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the python HTTPS server");
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
        Server { child, port: port.trim().to_string(), count }
    }

    fn items(&self) -> u64 {
        std::fs::read_to_string(&self.count).unwrap_or_default().trim().parse().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, name: &str, port: &str, tls: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            r#"input {{ file {{ path => "{}/in.log" start_position => "beginning" }} }}
output {{ elasticsearch {{ hosts => ["https://127.0.0.1:{port}"] index => "t" retry_initial_interval => 0.1 retry_max_interval => 0.5 {tls} }} }}
"#,
            dir.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn certificates_are_verified_against_the_configured_ca() {
    let dir = temp_dir("tls");
    certificates(&dir);
    append(&dir.join("in.log"), (0..25).map(|i| format!("line {i}\n")).collect::<String>().as_bytes());
    let server = Server::start(&dir);

    // Verification on by default: an unknown CA means no delivery, only retries.
    let untrusted = config(&dir, "untrusted.conf", &server.port, "");
    let agent = Agent::start(&untrusted, &dir.join("data-untrusted"), &["--shutdown-timeout", "0.5"]);
    wait_for("a refused certificate", || agent.stderr().contains("certificate"));
    assert!(agent.stop().success());
    assert_eq!(server.items(), 0, "nothing may be sent to an unverified server");

    // The private CA trusted: everything delivered.
    let ca = format!(r#"ssl_certificate_authorities => "{}""#, dir.join("ca.pem").display());
    let trusted = config(&dir, "trusted.conf", &server.port, &ca);
    assert!(Agent::start(&trusted, &dir.join("data-trusted"), &["--once"]).wait().success());
    assert_eq!(server.items(), 25);

    // Verification off (for diagnosis only): delivered too.
    let off = config(&dir, "off.conf", &server.port, r#"ssl_verification_mode => "none""#);
    assert!(Agent::start(&off, &dir.join("data-off"), &["--once"]).wait().success());
    assert_eq!(server.items(), 50);
}
