// WebSocket client for the JVM samples: java.net.http.HttpClient / java.net.http.WebSocket
// (JDK 11+), compiled by record_browser.sh with javac.
//
//   java -Djavax.net.ssl.trustStore=trust.p12 -Djavax.net.ssl.trustStorePassword=changeit \
//        -Djdk.net.hosts.file=hosts WsClient RESULTS.jsonl wss.teardown.test 8443 8444 \
//        TLSv1.3 clean_client_close,server_close_1011,...
//
// Opens one WebSocket per scenario, one after another, on wss://HOST:PORT/<scenario>/<n>,
// acts the scenario out and writes one JSON line per socket to RESULTS.jsonl: the status
// code and reason that Listener.onClose received, or the exception that Listener.onError
// received (or that buildAsync failed with, for a rejected handshake). At the end it makes
// two plain HTTPS GETs of https://HOST:HTTPS_PORT/hello (not WebSockets).
// Meant to run only inside the network namespace that record_browser.sh creates.

import java.io.ByteArrayOutputStream;
import java.io.FileWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

public class WsClient {
    static final long SCENARIO_SECONDS = 20;

    /** Collects what the WebSocket API reports. */
    static final class Listener implements WebSocket.Listener {
        final LinkedBlockingQueue<Object> messages = new LinkedBlockingQueue<>();
        final LinkedBlockingQueue<String> pongs = new LinkedBlockingQueue<>();
        final CompletableFuture<Void> ended = new CompletableFuture<>();
        StringBuilder text = new StringBuilder();
        ByteArrayOutputStream binary = new ByteArrayOutputStream();
        int textFrames = 0;
        volatile Integer status;
        volatile String reason;
        volatile Throwable error;

        @Override public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            text.append(data);
            textFrames++;
            if (last) {
                messages.add(text.toString());
                text = new StringBuilder();
            }
            ws.request(1);
            return null;
        }

        @Override public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            binary.write(b, 0, b.length);
            if (last) {
                messages.add(binary.toByteArray());
                binary = new ByteArrayOutputStream();
            }
            ws.request(1);
            return null;
        }

        @Override public CompletionStage<?> onPong(WebSocket ws, ByteBuffer data) {
            pongs.add(StandardCharsets.UTF_8.decode(data).toString());
            ws.request(1);
            return null;
        }

        @Override public CompletionStage<?> onClose(WebSocket ws, int statusCode, String r) {
            status = statusCode;
            reason = r;
            ended.complete(null);
            return null; // completes at once: the JDK then answers with its own close frame
        }

        @Override public void onError(WebSocket ws, Throwable e) {
            error = e;
            ended.complete(null);
        }

        Object next() throws InterruptedException, TimeoutException {
            Object m = messages.poll(10, TimeUnit.SECONDS);
            if (m == null) throw new TimeoutException("no message within 10 s");
            return m;
        }
    }

    static String json(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static void wait(CompletableFuture<?> f) throws Exception {
        f.get(10, TimeUnit.SECONDS);
    }

    static String randText(Random r, int n) {
        String abc = "abcdefghijklmnopqrstuvwxyz0123456789 ";
        StringBuilder b = new StringBuilder(n);
        for (int i = 0; i < n; i++) b.append(abc.charAt(r.nextInt(abc.length())));
        return b.toString();
    }

    /** Acts the scenario out on an open socket; returns a note for the truth's detail. */
    static String act(String scenario, WebSocket ws, Listener l) throws Exception {
        switch (scenario) {
            case "clean_client_close": {
                for (int i = 0; i < 3; i++) {
                    wait(ws.sendText("hello " + i, true));
                    l.next();
                }
                wait(ws.sendClose(WebSocket.NORMAL_CLOSURE, ""));
                return "";
            }
            case "clean_server_close":
            case "server_close_1011":
            case "server_close_1013":
                wait(ws.sendText("please close", true));
                return "";
            case "server_rst_no_close":
            case "server_fin_no_close":
                wait(ws.sendText("please drop me", true));
                return "";
            case "ping_pong": {
                List<String> rtts = new ArrayList<>();
                for (String p : new String[] {"p1", "p2", "p3"}) {
                    long t0 = System.nanoTime();
                    wait(ws.sendPing(ByteBuffer.wrap(p.getBytes(StandardCharsets.UTF_8))));
                    String got = l.pongs.poll(5, TimeUnit.SECONDS);
                    if (!p.equals(got)) throw new IllegalStateException("pong " + got + " for " + p);
                    rtts.add(String.format("%.2f", (System.nanoTime() - t0) / 1e6));
                }
                wait(ws.sendClose(WebSocket.NORMAL_CLOSURE, ""));
                return "client pings, rtt_ms=" + String.join(",", rtts);
            }
            case "server_ping_pong": {
                wait(ws.sendText("ping me", true));
                String m = (String) l.next(); // the JDK answers the server's pings itself
                wait(ws.sendClose(WebSocket.NORMAL_CLOSURE, ""));
                return "server pings answered by the JDK: " + m;
            }
            case "fragmented": {
                // A text message in 5 frames and a binary one in 4, as ../ws_lab.py sends them.
                String[] parts = {"frag", "mented ", "text ", "mess", "age"};
                for (int i = 0; i < parts.length; i++) wait(ws.sendText(parts[i], i == parts.length - 1));
                byte[][] bparts = {new byte[700], new byte[700], new byte[300], new byte[100]};
                for (int i = 0; i < bparts.length; i++) {
                    Arrays.fill(bparts[i], (byte) i);
                    wait(ws.sendBinary(ByteBuffer.wrap(bparts[i]), i == bparts.length - 1));
                }
                String reply = (String) l.next();
                wait(ws.sendClose(WebSocket.NORMAL_CLOSURE, ""));
                return "reply='" + reply + "' in " + l.textFrames + " text frames received in all";
            }
            case "large_messages": {
                Random r = new Random(20240601);
                List<Integer> sizes = new ArrayList<>();
                for (int n : new int[] {20000, 45000, 60000}) {
                    if (n == 45000) {
                        byte[] b = new byte[n];
                        r.nextBytes(b);
                        wait(ws.sendBinary(ByteBuffer.wrap(b), true));
                        byte[] back = (byte[]) l.next();
                        if (!Arrays.equals(b, back)) throw new IllegalStateException("echo differs");
                        sizes.add(back.length);
                    } else {
                        String s = randText(r, n);
                        wait(ws.sendText(s, true));
                        String back = (String) l.next();
                        if (!s.equals(back)) throw new IllegalStateException("echo differs");
                        sizes.add(back.length());
                    }
                }
                wait(ws.sendClose(WebSocket.NORMAL_CLOSURE, ""));
                return "echoed sizes=" + sizes;
            }
            case "client_abort": {
                wait(ws.sendText("bye", true));
                l.next();
                ws.abort();
                return "WebSocket.abort() after one echo";
            }
            default:
                throw new IllegalArgumentException("unknown scenario " + scenario);
        }
    }

    public static void main(String[] args) throws Exception {
        String resultsPath = args[0], host = args[1];
        int port = Integer.parseInt(args[2]), httpsPort = Integer.parseInt(args[3]);
        String tls = args[4];
        String[] scenarios = args[5].split(",");
        int n = args.length > 6 ? Integer.parseInt(args[6]) : 1;

        SSLParameters params = new SSLParameters();
        params.setProtocols(new String[] {tls}); // the server forces the version too
        HttpClient client = HttpClient.newBuilder()
                .sslContext(SSLContext.getDefault()) // trusts the truststore the script made
                .sslParameters(params)
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
        try (PrintWriter out = new PrintWriter(new FileWriter(resultsPath, true), true)) {
            for (String sc : scenarios) {
                String path = "/" + sc + "/" + (n++);
                Listener l = new Listener();
                StringBuilder rec = new StringBuilder("{\"path\":" + json(path) + ",\"scenario\":" + json(sc));
                String note = "";
                WebSocket ws = null;
                try {
                    ws = client.newWebSocketBuilder()
                            .connectTimeout(Duration.ofSeconds(5))
                            .buildAsync(URI.create("wss://" + host + ":" + port + path), l)
                            .get(10, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    Throwable c = e.getCause();
                    String m = c.getClass().getName() + ": " + c.getMessage();
                    if (c instanceof WebSocketHandshakeException) {
                        m += " (HTTP " + ((WebSocketHandshakeException) c).getResponse().statusCode() + ")";
                    }
                    rec.append(",\"opened\":false,\"error_class\":").append(json(c.getClass().getName()))
                       .append(",\"error_message\":").append(json("buildAsync failed: " + m));
                }
                if (ws != null) {
                    rec.append(",\"opened\":true");
                    try {
                        note = act(sc, ws, l);
                    } catch (Exception e) {
                        note = "action failed: " + e;
                    }
                    try {
                        // After abort() the JDK reports nothing more: wait briefly only.
                        l.ended.get(sc.equals("client_abort") ? 2 : SCENARIO_SECONDS, TimeUnit.SECONDS);
                    } catch (TimeoutException e) {
                        note += (note.isEmpty() ? "" : "; ") + "neither onClose nor onError afterwards"
                                + " (isInputClosed=" + ws.isInputClosed()
                                + ", isOutputClosed=" + ws.isOutputClosed() + ")";
                        if (!sc.equals("client_abort")) ws.abort();
                    }
                    if (l.status != null) {
                        rec.append(",\"status\":").append(l.status).append(",\"reason\":").append(json(l.reason));
                    }
                    if (l.error != null) {
                        rec.append(",\"error_class\":").append(json(l.error.getClass().getName()))
                           .append(",\"error_message\":").append(json("onError: " + l.error.getClass().getName()
                                   + ": " + l.error.getMessage()));
                    }
                    rec.append(",\"subprotocol\":").append(json(ws.getSubprotocol()));
                }
                if (!note.isEmpty()) rec.append(",\"note\":").append(json(note));
                rec.append("}");
                out.println(rec);
                System.err.println("[WsClient] " + rec);
                Thread.sleep(150);
            }
            // Plain HTTPS request/response connections (the server answers Connection: close).
            for (int i = 0; i < 2; i++) {
                HttpResponse<String> r = client.send(
                        HttpRequest.newBuilder(URI.create("https://" + host + ":" + httpsPort + "/hello?" + i))
                                .timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.ofString());
                System.err.println("[WsClient] hello " + i + ": " + r.statusCode() + " " + r.body().trim());
            }
        }
        System.exit(0); // the HttpClient's selector thread is not a daemon in every JDK
    }
}
