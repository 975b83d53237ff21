package dev.miij.parallel;

import dev.miij.MiiException;
import dev.miij.backend.RaggedBatch;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The frames ranks of a {@link ProcessGroup} exchange over TCP: one type byte, a length, a body.
 * Rank 0 sends the setup, byte broadcasts, KV-cache sizes, steps, collective results and the stop;
 * other ranks send their readiness and collective contributions; every rank sends pings (liveness)
 * and an error frame when it fails. Numbers are big-endian, floats little-endian in bulk.
 */
final class Wire {

    /** "MIIJ", then the version of this protocol: ranks of different builds refuse each other. */
    static final int MAGIC = 0x4D49494A;
    static final int VERSION = 1;

    static final byte HELLO = 1;
    static final byte WELCOME = 2;
    static final byte SETUP = 3;
    static final byte READY = 4;
    static final byte BROADCAST = 5;
    static final byte KV_CACHE = 6;
    static final byte STEP = 7;
    static final byte DATA = 8;
    static final byte PING = 9;
    static final byte STOP = 10;
    static final byte ERROR = 11;
    static final byte BARRIER = 12;

    /** Bodies beyond this are a corrupt stream, not a tensor (2 GiB is Java's array limit anyway). */
    private static final int MAX_BODY = Integer.MAX_VALUE - 16;

    private Wire() {
    }

    record Frame(byte type, byte[] body) {

        String typeName() {
            return name(type);
        }
    }

    static String name(byte type) {
        return switch (type) {
            case HELLO -> "hello";
            case WELCOME -> "welcome";
            case SETUP -> "setup";
            case READY -> "ready";
            case BROADCAST -> "broadcast";
            case KV_CACHE -> "KV-cache size";
            case STEP -> "step";
            case DATA -> "collective data";
            case PING -> "ping";
            case STOP -> "stop";
            case ERROR -> "error";
            case BARRIER -> "barrier";
            default -> "frame type " + type;
        };
    }

    static void write(DataOutputStream out, byte type, byte[] body) throws IOException {
        out.writeByte(type);
        out.writeInt(body.length);
        out.write(body);
        out.flush();
    }

    static Frame read(DataInputStream in) throws IOException {
        byte type = in.readByte();
        int length = in.readInt();
        if (length < 0 || length > MAX_BODY) {
            throw new IOException("corrupt frame: a body of " + length + " bytes");
        }
        byte[] body = new byte[length];
        in.readFully(body);
        return new Frame(type, body);
    }

    // ---- Bodies ----

    private interface Writer {
        void write(DataOutputStream out) throws IOException;
    }

    private static byte[] body(Writer w) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            w.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array does not fail
        }
        return bytes.toByteArray();
    }

    private static DataInputStream in(byte[] body) {
        return new DataInputStream(new java.io.ByteArrayInputStream(body));
    }

    /** A joining rank: its place, and the group's join token as it knows it. */
    record Hello(int rank, int size, String token) {
    }

    static byte[] hello(int rank, int size, String token) {
        return body(o -> {
            o.writeInt(MAGIC);
            o.writeInt(VERSION);
            o.writeInt(rank);
            o.writeInt(size);
            o.writeUTF(token);
        });
    }

    /** A hello, or null when the bytes are not one of this protocol's version (a stray connection). */
    static Hello hello(byte[] body) {
        try {
            DataInputStream in = in(body);
            if (in.readInt() != MAGIC || in.readInt() != VERSION) {
                return null;
            }
            return new Hello(in.readInt(), in.readInt(), in.readUTF());
        } catch (IOException e) {
            return null;
        }
    }

    static byte[] strings(Map<String, String> values) {
        return body(o -> {
            o.writeInt(values.size());
            for (Map.Entry<String, String> e : values.entrySet()) {
                o.writeUTF(e.getKey());
                o.writeUTF(e.getValue());
            }
        });
    }

    static Map<String, String> strings(byte[] body) {
        try {
            DataInputStream in = in(body);
            int n = in.readInt();
            Map<String, String> out = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                out.put(in.readUTF(), in.readUTF());
            }
            return out;
        } catch (IOException e) {
            throw corrupt("setup", e);
        }
    }

    static byte[] kvCache(int numBlocks, int blockSize) {
        return body(o -> {
            o.writeInt(numBlocks);
            o.writeInt(blockSize);
        });
    }

    static int[] kvCache(byte[] body) {
        try {
            DataInputStream in = in(body);
            return new int[] {in.readInt(), in.readInt()};
        } catch (IOException e) {
            throw corrupt("KV-cache size", e);
        }
    }

    static byte[] batch(RaggedBatch b) {
        return body(o -> {
            writeInts(o, b.tokens());
            writeInts(o, b.positions());
            writeInts(o, b.slots());
            writeInts(o, b.seqStarts());
            writeInts(o, b.contextLens());
            o.writeInt(b.blockTables().length);
            for (int[] t : b.blockTables()) {
                writeInts(o, t);
            }
            writeInts(o, b.logitRows());
        });
    }

    static RaggedBatch batch(byte[] body) {
        try {
            DataInputStream in = in(body);
            int[] tokens = readInts(in);
            int[] positions = readInts(in);
            int[] slots = readInts(in);
            int[] seqStarts = readInts(in);
            int[] contextLens = readInts(in);
            int[][] tables = new int[in.readInt()][];
            for (int i = 0; i < tables.length; i++) {
                tables[i] = readInts(in);
            }
            return new RaggedBatch(tokens, positions, slots, seqStarts, contextLens, tables, readInts(in));
        } catch (IOException e) {
            throw corrupt("step", e);
        }
    }

    private static void writeInts(DataOutputStream o, int[] a) throws IOException {
        o.writeInt(a.length);
        ByteBuffer b = ByteBuffer.allocate(4 * a.length);
        b.asIntBuffer().put(a);
        o.write(b.array());
    }

    private static int[] readInts(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_BODY / 4) {
            throw new IOException("an array of " + n + " ints");
        }
        byte[] bytes = new byte[4 * n];
        in.readFully(bytes);
        int[] a = new int[n];
        ByteBuffer.wrap(bytes).asIntBuffer().get(a);
        return a;
    }

    static byte[] floats(float[] a, int n) {
        ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(a, 0, n);
        return b.array();
    }

    static float[] floats(byte[] body) {
        float[] a = new float[body.length / 4];
        ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(a);
        return a;
    }

    /** A rank's failure as it travels: the kind of error and the message, which names the rank that failed. */
    static byte[] error(MiiException e) {
        return body(o -> {
            o.writeUTF(e.kind().name());
            byte[] m = String.valueOf(e.getMessage()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            o.writeInt(m.length);
            o.write(m);
        });
    }

    static MiiException error(byte[] body) {
        try {
            DataInputStream in = in(body);
            MiiException.Kind kind;
            try {
                kind = MiiException.Kind.valueOf(in.readUTF());
            } catch (IllegalArgumentException e) {
                kind = MiiException.Kind.INTERNAL;
            }
            byte[] m = new byte[in.readInt()];
            in.readFully(m);
            return new MiiException(kind, new String(m, java.nio.charset.StandardCharsets.UTF_8));
        } catch (IOException e) {
            return new MiiException(MiiException.Kind.INTERNAL, "a rank of the tensor-parallel group failed"
                    + " and its error arrived corrupt");
        }
    }

    private static MiiException corrupt(String what, IOException e) {
        return new MiiException(MiiException.Kind.INTERNAL, "a corrupt " + what + " frame arrived from another"
                + " rank of the tensor-parallel group", e);
    }
}
