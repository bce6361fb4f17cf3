#!/bin/sh
# Re-create the real TLS handshakes in detector/synth/data/tls/*.hex (run as root; needs
# tcpdump, openssl, curl, wget, python3, node, java; works in the current directory and
# writes the hex files into detector/synth/data/tls/).
#
# A throwaway openssl s_server listens on 127.0.0.1:44330; each client below connects
# once with a different SNI; tcpdump records the loopback; extract.py (next to this file)
# writes each client's first TCP payload (the ClientHello record) and the server's first
# TCP payload (ServerHello and the rest of the server's first flight) as hex.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
port=44330
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 \
    -subj "/CN=www.example.com" 2>/dev/null
openssl s_server -accept 127.0.0.1:$port -cert cert.pem -key key.pem -www \
    -alpn h2,http/1.1 >server.log 2>&1 &
srv=$!
tcpdump -i lo -U -w tls.pcap "tcp port $port" >tcpdump.log 2>&1 &
dump=$!
sleep 1
echo Q | timeout 5 openssl s_client -connect 127.0.0.1:$port -servername api.github.com \
    -quiet >/dev/null 2>&1 || true
echo Q | timeout 5 openssl s_client -connect 127.0.0.1:$port -servername cdn.jsdelivr.net \
    -tls1_2 -quiet >/dev/null 2>&1 || true
timeout 5 curl -sk --resolve www.wikipedia.org:$port:127.0.0.1 \
    https://www.wikipedia.org:$port/ -o /dev/null || true
timeout 5 curl -sk --http1.1 --resolve pypi.org:$port:127.0.0.1 \
    https://pypi.org:$port/ -o /dev/null || true
timeout 5 wget -q --no-check-certificate -O /dev/null https://127.0.0.1:$port/ || true
python3 - <<PY
import socket, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", $port)) as s:
    with ctx.wrap_socket(s, server_hostname="files.pythonhosted.org") as t:
        t.sendall(b"GET / HTTP/1.0\r\n\r\n"); t.recv(100)
PY
node -e "
const tls = require('tls');
const s = tls.connect({host: '127.0.0.1', port: $port, servername: 'registry.npmjs.org',
  rejectUnauthorized: false, ALPNProtocols: ['http/1.1']}, () => {
  s.write('GET / HTTP/1.0\r\n\r\n'); s.on('data', () => s.end()); });
s.on('error', () => {});" || true
cat >Hello.java <<JAVA
import javax.net.ssl.*; import java.security.cert.X509Certificate; import java.util.List;
public class Hello { public static void main(String[] a) throws Exception {
  TrustManager[] all = { new X509TrustManager() {
    public void checkClientTrusted(X509Certificate[] c, String t) {}
    public void checkServerTrusted(X509Certificate[] c, String t) {}
    public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; } } };
  SSLContext ctx = SSLContext.getInstance("TLS"); ctx.init(null, all, null);
  SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", $port);
  SSLParameters p = s.getSSLParameters();
  p.setServerNames(List.of(new SNIHostName("repo.maven.apache.org"))); s.setSSLParameters(p);
  s.startHandshake(); s.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes());
  s.getInputStream().read(); s.close(); } }
JAVA
timeout 20 java Hello.java || true
sleep 1
kill "$dump" "$srv"
sleep 0.5
"${PYTHON:-python3}" "$here/extract.py" tls.pcap "$here/../../detector/synth/data/tls"
