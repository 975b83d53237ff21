package dev.miij.cuda;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.Sampler;
import dev.miij.backend.SamplingParams;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A first look at the CUDA backend's speed: a Llama-shaped model with constant BF16 weights (every
 * tensor a slice of one host buffer, so no multi-gigabyte file is written), one sequence, a prompt
 * prefilled in one step and then decoded token by token through {@link DecoderModel#forward}; and
 * the device's read bandwidth measured with a device-to-device copy, for the roofline.
 *
 * <p>{@code java -cp ... dev.miij.cuda.CudaDecodeProbe llama-3-8b 128 128}
 */
public final class CudaDecodeProbe {

    private CudaDecodeProbe() {
    }

    record Shape(int hidden, int layers, int heads, int kvHeads, int intermediate, int vocab, boolean tied) {
    }

    static final Map<String, Shape> SHAPES = Map.of(
            "llama-3-8b", new Shape(4096, 32, 32, 8, 14336, 128256, false),
            "llama-3.2-1b", new Shape(2048, 16, 32, 8, 8192, 128256, true));

    private static final SamplingParams[] GREEDY = {SamplingParams.GREEDY};
    private static final int[] NO_EOS = {};

    public static void main(String[] args) {
        String name = args.length > 0 ? args[0] : "llama-3.2-1b";
        int prompt = args.length > 1 ? Integer.parseInt(args[1]) : 128;
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        Shape s = SHAPES.get(name);
        try (CudaBackend gpu = new CudaBackend(0); Arena arena = Arena.ofShared()) {
            double gbs = readBandwidth(gpu);
            TransformerSpec spec = Architectures.fromConfig(config(s));
            long t0 = System.nanoTime();
            DecoderModel model = new DecoderModel(spec, source(s, arena), gpu);
            gpu.synchronize();
            double loadS = (System.nanoTime() - t0) / 1e9;
            long weightBytes = model.weightBytesPerToken();
            int blockSize = 16;
            int blocks = (prompt + steps) / blockSize + 2;
            KvCache cache = model.newKvCache(blocks, blockSize);
            int[] table = new int[blocks];
            for (int i = 0; i < blocks; i++) {
                table[i] = i;
            }
            double[] ttft = new double[3];
            double[] tpot = new double[steps];
            for (int rep = 0; rep < ttft.length; rep++) {
                long a = System.nanoTime();
                model.forward(batch(0, prompt, table, blockSize), cache, GREEDY, NO_EOS);
                ttft[rep] = (System.nanoTime() - a) / 1e6;
            }
            if (CudaKernels.PROFILE) {
                System.err.print("GPU time of " + ttft.length + " prefills by kernel\n" + CudaKernels.profileReport());
            }
            CudaKernels.resetProfile();
            for (int i = 0; i < steps; i++) {
                long a = System.nanoTime();
                model.forward(batch(prompt + i, 1, table, blockSize), cache, GREEDY, NO_EOS);
                tpot[i] = (System.nanoTime() - a) / 1e6;
            }
            if (CudaKernels.PROFILE) {
                System.err.print("GPU time of " + steps + " decode steps by kernel\n" + CudaKernels.profileReport());
            }
            // The sampled path (graphs after the first steps) against the logits path's argmax, step by step.
            int mismatches = 0;
            for (int i = 0; i < 24; i++) {
                RaggedBatch step = batch(prompt + i, 1, table, blockSize);
                int sampled = model.forward(step, cache, GREEDY, NO_EOS)[0];
                mismatches += sampled == Sampler.argmax(Gpu.bf16(model.forward(step, cache))) ? 0 : 1;
            }
            double ttftMs = median(ttft);
            double tpotMs = median(Arrays.copyOfRange(tpot, Math.min(8, steps - 1), steps));
            double roofline = weightBytes / (gbs * 1e9) * 1e3;
            System.out.printf("{\"device\":\"%s\",\"model\":\"%s\",\"input_len\":%d,\"output_len\":%d,\"load_s\":%.1f,"
                            + "\"ttft_ms\":%.2f,\"tpot_ms\":%.3f,\"weight_bytes\":%d,\"read_bandwidth_gbs\":%.0f,"
                            + "\"roofline_tpot_ms\":%.3f,\"greedy_mismatches\":%d,\"graphs\":%b,\"gemv\":%b}%n", gpu.deviceName(), name,
                    prompt, steps, loadS, ttftMs, tpotMs, weightBytes, gbs, roofline, mismatches,
                    !Boolean.getBoolean("mii.cuda.noGraphs"), !Boolean.getBoolean("mii.cuda.noGemv"));
        }
    }

    private static RaggedBatch batch(int start, int n, int[] table, int blockSize) {
        int[] tokens = new int[n];
        int[] pos = new int[n];
        int[] slots = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = (start + i) * 7919 % 128000;
            pos[i] = start + i;
            slots[i] = table[pos[i] / blockSize] * blockSize + pos[i] % blockSize;
        }
        return new RaggedBatch(tokens, pos, slots, new int[] {0, n}, new int[] {start + n}, new int[][] {table},
                new int[] {n - 1});
    }

    /** Bytes read per second by a 4 GiB device-to-device copy (reads + writes counted as reads / 2 each way). */
    private static double readBandwidth(CudaBackend gpu) {
        long bytes = 4L << 30;
        long a = CudaDriver.memAlloc(bytes);
        long b = CudaDriver.memAlloc(bytes);
        MemorySegment start = CudaDriver.eventCreate();
        MemorySegment end = CudaDriver.eventCreate();
        MemorySegment stream = MemorySegment.NULL;
        double best = 0;
        for (int i = 0; i < 5; i++) {
            CudaDriver.eventRecord(start, stream);
            CudaDriver.copyDtoDAsync(b, a, bytes, stream);
            CudaDriver.eventRecord(end, stream);
            CudaDriver.eventSynchronize(end);
            float ms = CudaDriver.eventElapsed(start, end);
            // A copy reads and writes each byte; count both, as the traffic that a pure read would see.
            best = Math.max(best, 2.0 * bytes / (ms / 1e3) / 1e9);
        }
        CudaDriver.eventDestroy(start);
        CudaDriver.eventDestroy(end);
        CudaDriver.memFree(a);
        CudaDriver.memFree(b);
        return best;
    }

    private static double median(double[] a) {
        double[] c = a.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    private static com.fasterxml.jackson.databind.JsonNode config(Shape s) {
        ObjectNode c = new ObjectMapper().createObjectNode();
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
        return c;
    }

    /** Every tensor a slice of one buffer of small constant BF16 values (0x3C3C = 0.0115). */
    private static WeightSource source(Shape s, Arena arena) {
        int h = s.hidden();
        int kv = s.kvHeads() * (h / s.heads());
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("model.embed_tokens.weight", new long[] {s.vocab(), h});
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            shapes.put(p + "input_layernorm.weight", new long[] {h});
            shapes.put(p + "self_attn.q_proj.weight", new long[] {h, h});
            shapes.put(p + "self_attn.k_proj.weight", new long[] {kv, h});
            shapes.put(p + "self_attn.v_proj.weight", new long[] {kv, h});
            shapes.put(p + "self_attn.o_proj.weight", new long[] {h, h});
            shapes.put(p + "post_attention_layernorm.weight", new long[] {h});
            shapes.put(p + "mlp.gate_proj.weight", new long[] {s.intermediate(), h});
            shapes.put(p + "mlp.up_proj.weight", new long[] {s.intermediate(), h});
            shapes.put(p + "mlp.down_proj.weight", new long[] {h, s.intermediate()});
        }
        shapes.put("model.norm.weight", new long[] {h});
        if (!s.tied()) {
            shapes.put("lm_head.weight", new long[] {s.vocab(), h});
        }
        long max = 0;
        for (long[] d : shapes.values()) {
            max = Math.max(max, Arrays.stream(d).reduce(1, (x, y) -> x * y) * 2);
        }
        MemorySegment buf = arena.allocate(max, 64);
        buf.fill((byte) 0x3C);
        return new WeightSource() {
            @Override
            public Set<String> names() {
                return shapes.keySet();
            }

            @Override
            public TensorData get(String n) {
                long[] d = shapes.get(n);
                long bytes = Arrays.stream(d).reduce(1, (x, y) -> x * y) * 2;
                return new TensorData(n, DType.BF16, d, buf.asSlice(0, bytes));
            }

            @Override
            public void close() {
            }
        };
    }

}
