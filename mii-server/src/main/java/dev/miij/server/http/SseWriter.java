package dev.miij.server.http;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Writes server-sent events to a streamed response, each one flushed so that the client sees a token when
 * it is generated. Writes block while the client is not reading (back-pressure); a write that fails means
 * the client is gone, and callers cancel their work then.
 */
final class SseWriter {

    private final HttpCall call;

    SseWriter(HttpCall call) {
        this.call = call;
    }

    /** An unnamed event ("message" for the client), as OpenAI's streams use. */
    void data(String data) throws IOException {
        event(null, data);
    }

    void event(String name, String data) throws IOException {
        StringBuilder sb = new StringBuilder(data.length() + 32);
        if (name != null) {
            sb.append("event: ").append(name).append('\n');
        }
        // A line break inside data would end the field; the format splits data over several lines instead.
        for (String line : data.split("\r\n|\r|\n", -1)) {
            sb.append("data: ").append(line).append('\n');
        }
        sb.append('\n');
        write(sb);
    }

    /** A comment line: ignored by clients, it keeps idle connections alive and reveals closed ones. */
    void comment(String text) throws IOException {
        write(new StringBuilder(": ").append(text).append("\n\n"));
    }

    private void write(CharSequence s) throws IOException {
        call.write(false, ByteBuffer.wrap(s.toString().getBytes(StandardCharsets.UTF_8)));
    }
}
