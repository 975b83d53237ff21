package dev.miij.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.MiiException;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.LongStream;

/**
 * Random BF16 (or F16) weights of a real model's shape, the usual way to measure speed without the
 * real checkpoint: a Llama-family model folder written once into a cache folder and reused
 * ({@link #ensure}), or, where the weights are copied to a device anyway, a {@link WeightSource} in
 * native memory that writes no file ({@link #inMemory}).
 */
public final class DummyModel {

    /** A model shape. */
    public record Shape(String name, int hidden, int layers, int heads, int kvHeads, int intermediate, int vocab,
                        boolean tied) {
    }

    public static final Map<String, Shape> SHAPES = Map.of(
            "llama-3-8b", new Shape("llama-3-8b", 4096, 32, 32, 8, 14336, 128256, false),
            "llama-3.2-1b", new Shape("llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, true),
            "tiny", new Shape("tiny", 256, 4, 8, 2, 768, 4096, true),
            "small", new Shape("small", 768, 8, 12, 4, 2048, 32000, true));

    private DummyModel() {
    }

    public static Shape shape(String name) {
        Shape s = SHAPES.get(name);
        if (s == null) {
            throw MiiException.invalid("unknown dummy model shape '" + name + "'; known: " + String.join(", ", SHAPES.keySet()));
        }
        return s;
    }

    /** The folder for a shape with BF16 weights under {@code cacheDir}, written if absent. */
    public static Path ensure(Shape s, Path cacheDir) {
        return ensure(s, DType.BF16, cacheDir);
    }

    /** The folder for a shape with {@code dtype} (BF16 or F16) weights under {@code cacheDir}, written if absent. */
    public static Path ensure(Shape s, DType dtype, Path cacheDir) {
        if (dtype != DType.BF16 && dtype != DType.F16) {
            throw MiiException.invalid("dummy weights are BF16 or F16, not " + dtype);
        }
        Path dir = cacheDir.resolve("dummy-" + s.name() + (dtype == DType.BF16 ? "" : "-f16"));
        if (Files.exists(dir.resolve("model.safetensors")) && Files.exists(dir.resolve("config.json"))) {
            return dir;
        }
        try {
            Files.createDirectories(dir);
            writeConfig(s, dtype, dir.resolve("config.json"));
            writeWeights(s, dtype, dir.resolve("model.safetensors.tmp"));
            Files.move(dir.resolve("model.safetensors.tmp"), dir.resolve("model.safetensors"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeConfig(Shape s, DType dtype, Path file) throws IOException {
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(file.toFile(), config(s, dtype));
    }

    /** The config.json of a shape (Llama 3 RoPE scaling, 128k context). */
    public static ObjectNode config(Shape s, DType dtype) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode c = om.createObjectNode();
        c.put("model_type", "llama");
        c.put("hidden_size", s.hidden());
        c.put("num_hidden_layers", s.layers());
        c.put("num_attention_heads", s.heads());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("intermediate_size", s.intermediate());
        c.put("vocab_size", s.vocab());
        c.put("max_position_embeddings", 131072);
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", 500000.0);
        c.put("tie_word_embeddings", s.tied());
        c.put("hidden_act", "silu");
        c.put("torch_dtype", dtype == DType.BF16 ? "bfloat16" : "float16");
        ObjectNode scaling = c.putObject("rope_scaling");
        scaling.put("rope_type", "llama3");
        scaling.put("factor", 32.0);
        scaling.put("low_freq_factor", 1.0);
        scaling.put("high_freq_factor", 4.0);
        scaling.put("original_max_position_embeddings", 8192);
        return c;
    }

    /** Tensor names and shapes of a Llama-family checkpoint of shape {@code s}, in checkpoint order. */
    static Map<String, long[]> tensors(Shape s) {
        int h = s.hidden();
        int kv = s.kvHeads() * (h / s.heads());
        Map<String, long[]> tensors = new LinkedHashMap<>();
        tensors.put("model.embed_tokens.weight", new long[] {s.vocab(), h});
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            tensors.put(p + "input_layernorm.weight", new long[] {h});
            tensors.put(p + "self_attn.q_proj.weight", new long[] {h, h});
            tensors.put(p + "self_attn.k_proj.weight", new long[] {kv, h});
            tensors.put(p + "self_attn.v_proj.weight", new long[] {kv, h});
            tensors.put(p + "self_attn.o_proj.weight", new long[] {h, h});
            tensors.put(p + "post_attention_layernorm.weight", new long[] {h});
            tensors.put(p + "mlp.gate_proj.weight", new long[] {s.intermediate(), h});
            tensors.put(p + "mlp.up_proj.weight", new long[] {s.intermediate(), h});
            tensors.put(p + "mlp.down_proj.weight", new long[] {h, s.intermediate()});
        }
        tensors.put("model.norm.weight", new long[] {h});
        if (!s.tied()) {
            tensors.put("lm_head.weight", new long[] {s.vocab(), h});
        }
        return tensors;
    }

    private static void writeWeights(Shape s, DType dtype, Path file) throws IOException {
        Map<String, long[]> tensors = tensors(s);
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (var e : tensors.entrySet()) {
            long n = 1;
            for (long d : e.getValue()) {
                n *= d;
            }
            if (header.length() > 1) {
                header.append(',');
            }
            header.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(dtype.name()).append("\",\"shape\":")
                    .append(java.util.Arrays.toString(e.getValue()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + n * 2).append("]}");
            offset += n * 2;
        }
        header.append('}');
        while ((header.length() + 8) % 8 != 0) {
            header.append(' ');
        }
        byte[] hb = header.toString().getBytes(StandardCharsets.UTF_8);
        long total = 8 + hb.length + offset;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
             Arena arena = Arena.ofConfined()) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
            seg.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, hb.length);
            MemorySegment.copy(MemorySegment.ofArray(hb), 0, seg, 8, hb.length);
            long base = 8 + hb.length;
            // Norm weights near 1, everything else small random values: realistic magnitudes, no NaNs.
            long x = 0x9E3779B97F4A7C15L;
            long pos = base;
            for (var e : tensors.entrySet()) {
                long n = 1;
                for (long d : e.getValue()) {
                    n *= d;
                }
                boolean norm = e.getValue().length == 1;
                for (long i = 0; i < n; i++) {
                    x ^= x << 13;
                    x ^= x >>> 7;
                    x ^= x << 17;
                    float v = norm ? 1f : ((x >>> 40) / (float) (1L << 24) - 0.5f) * 0.08f;
                    short bits = dtype == DType.BF16 ? (short) (Float.floatToRawIntBits(v) >>> 16) : Float.floatToFloat16(v);
                    seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, pos, bits);
                    pos += 2;
                }
            }
            seg.force();
        }
    }

    /**
     * Random BF16 weights of shape {@code s} in native memory, no file written: one pool of random
     * values as large as the largest tensor, generated once in parallel, of which every matrix is a
     * slice at its own offset (norm weights are 1). Meant for backends that copy weights to their
     * device (the CUDA backend); a CPU backend would compute on the shared pages, so it reads the
     * file {@link #ensure} writes instead. Closing the source frees the pool.
     */
    public static WeightSource inMemory(Shape s) {
        Map<String, long[]> shapes = tensors(s);
        long largest = 0;
        long longestVector = 0;
        for (long[] d : shapes.values()) {
            long bytes = 2 * Arrays.stream(d).reduce(1, Math::multiplyExact);
            if (d.length == 1) {
                longestVector = Math.max(longestVector, bytes);
            } else {
                largest = Math.max(largest, bytes);
            }
        }
        Arena arena = Arena.ofShared();
        MemorySegment pool = arena.allocate(largest, 64);
        fillRandomBf16(pool, 0x9E3779B97F4A7C15L);
        MemorySegment ones = arena.allocate(longestVector, 64);
        for (long i = 0; i < longestVector; i += 2) {
            ones.set(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (Float.floatToRawIntBits(1f) >>> 16));
        }
        long poolBytes = largest;
        return new WeightSource() {
            @Override
            public Set<String> names() {
                return shapes.keySet();
            }

            @Override
            public TensorData get(String name) {
                long[] d = shapes.get(name);
                if (d == null) {
                    throw MiiException.corrupt("dummy checkpoint has no tensor " + name);
                }
                long bytes = 2 * Arrays.stream(d).reduce(1, Math::multiplyExact);
                if (d.length == 1) {
                    return new TensorData(name, DType.BF16, d, ones.asSlice(0, bytes));
                }
                // A different window of the pool for each tensor, so that layers do not hold equal weights.
                long room = (poolBytes - bytes) / 64;
                long offset = room == 0 ? 0 : Math.floorMod(mix(name.hashCode()), room + 1) * 64;
                return new TensorData(name, DType.BF16, d, pool.asSlice(offset, bytes));
            }

            @Override
            public void close() {
                arena.close();
            }
        };
    }

    private static long mix(long x) {
        x = (x ^ (x >>> 33)) * 0xff51afd7ed558ccdL;
        x = (x ^ (x >>> 33)) * 0xc4ceb9fe1a85ec53L;
        return x ^ (x >>> 33);
    }

    /** Small uniform BF16 values in [-0.04, 0.04), chunk by chunk in parallel (a gigabyte in well under a second). */
    static void fillRandomBf16(MemorySegment m, long seed) {
        long chunk = 8L << 20;
        long chunks = (m.byteSize() + chunk - 1) / chunk;
        LongStream.range(0, chunks).parallel().forEach(c -> {
            long from = c * chunk;
            long to = Math.min(m.byteSize(), from + chunk) & ~1L;
            long x = mix(seed + c) | 1;
            for (long pos = from; pos < to; pos += 2) {
                x ^= x << 13;
                x ^= x >>> 7;
                x ^= x << 17;
                float v = ((x >>> 40) / (float) (1L << 24) - 0.5f) * 0.08f;
                m.set(ValueLayout.JAVA_SHORT_UNALIGNED, pos, (short) (Float.floatToRawIntBits(v) >>> 16));
            }
        });
    }
}
