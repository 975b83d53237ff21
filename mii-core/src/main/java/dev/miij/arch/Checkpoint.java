package dev.miij.arch;

import dev.miij.MiiException;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Reads a family's tensors out of a checkpoint by role, checking shapes against the config and
 * bringing them into the layout the forward pass uses: {@code [out, in]} matrices (GPT-2's Conv1D
 * stores {@code [in, out]}) and separate q/k/v rows (fused layouts interleave them). Reordered or
 * transposed tensors are copied into native memory, never onto the Java heap; everything else stays
 * a view of the memory-mapped file.
 */
final class Checkpoint {

    private final WeightSource source;
    private final TransformerSpec spec;
    private final WeightNames names;

    Checkpoint(WeightSource source, TransformerSpec spec) {
        this.source = source;
        this.spec = spec;
        this.names = spec.weights();
    }

    boolean has(WeightNames.Role role, int layer, String suffix) {
        return names.get(role) != null && resolve(names.name(role, layer, suffix)) != null;
    }

    TensorData get(WeightNames.Role role, int layer, int expert, String suffix) {
        String name = names.name(role, layer, expert, suffix);
        String found = resolve(name);
        if (found == null) {
            throw MiiException.corrupt("the checkpoint has no tensor " + name + ", which a " + spec.modelType()
                    + " model with this config.json needs");
        }
        return source.get(found);
    }

    /**
     * The stored name of a tensor: as named, or without the base-model prefix ("transformer.",
     * "model.", ...) that checkpoints saved from the bare model lack (gpt2, bloom-560m, opt-*), as
     * transformers accepts; null when neither is present.
     */
    private String resolve(String name) {
        if (source.contains(name)) {
            return name;
        }
        int dot = name.indexOf('.');
        String bare = dot > 0 ? name.substring(dot + 1) : null;
        return bare != null && source.contains(bare) ? bare : null;
    }

    /** A {@code [rows, cols]} matrix of a role ({@code expert} -1 when none). */
    TensorData matrix(WeightNames.Role role, int layer, int expert, int rows, int cols) {
        TensorData t = get(role, layer, expert, ".weight");
        boolean transposed = spec.transposedWeights() && role != WeightNames.Role.EMBED
                && role != WeightNames.Role.POSITIONS && role != WeightNames.Role.LM_HEAD;
        int r = transposed ? cols : rows;
        int c = transposed ? rows : cols;
        if (t.rank() != 2 || t.rows() != r || t.cols() != c) {
            throw MiiException.corrupt("tensor " + t.name() + " has shape " + Arrays.toString(t.shape())
                    + " but config.json implies [" + r + ", " + c + "]");
        }
        if (!t.dtype().isSupportedWeightType()) {
            throw MiiException.unsupported("tensor " + t.name() + " is " + t.dtype() + "; MII-J runs F32, F16 and BF16 weights");
        }
        return transposed ? transpose(t) : t;
    }

    TensorData matrix(WeightNames.Role role, int layer, int rows, int cols) {
        return matrix(role, layer, -1, rows, cols);
    }

    /** A 1-D parameter of a role (".weight" of a norm, ".bias" of a projection). */
    TensorData vector(WeightNames.Role role, int layer, int expert, String suffix, int length) {
        TensorData t = get(role, layer, expert, suffix);
        if (t.size() != length) {
            throw MiiException.corrupt("tensor " + t.name() + " has shape " + Arrays.toString(t.shape())
                    + " but config.json implies [" + length + "]");
        }
        return t;
    }

    /**
     * Rows of q, k and v within a fused qkv tensor of {@code (heads + 2 * kvHeads) * headDim} rows,
     * for the spec's layout.
     */
    int[][] qkvRows() {
        int hd = spec.headDim();
        int heads = spec.numHeads();
        int kv = spec.numKvHeads();
        int[] q = new int[heads * hd];
        int[] k = new int[kv * hd];
        int[] v = new int[kv * hd];
        switch (spec.qkvLayout()) {
            case CONCATENATED -> {
                for (int i = 0; i < q.length; i++) {
                    q[i] = i;
                }
                for (int i = 0; i < k.length; i++) {
                    k[i] = q.length + i;
                    v[i] = q.length + k.length + i;
                }
            }
            case PER_HEAD, PER_GROUP -> {
                // For each KV head: its group of q heads, then its k head, then its v head
                // (PER_HEAD is the case of groups of one).
                int group = heads / kv;
                int block = (group + 2) * hd;
                for (int g = 0; g < kv; g++) {
                    for (int j = 0; j < group * hd; j++) {
                        q[g * group * hd + j] = g * block + j;
                    }
                    for (int j = 0; j < hd; j++) {
                        k[g * hd + j] = g * block + group * hd + j;
                        v[g * hd + j] = g * block + (group + 1) * hd + j;
                    }
                }
            }
        }
        return new int[][] {q, k, v};
    }

    /** The given rows of {@code t} (its first dimension), in that order. */
    static TensorData rows(TensorData t, int[] rows, String suffix) {
        long rowBytes = (long) t.cols() * t.dtype().bytes();
        boolean contiguous = true;
        for (int i = 1; i < rows.length && contiguous; i++) {
            contiguous = rows[i] == rows[0] + i;
        }
        if (contiguous) {
            return t.sliceRows(rows[0], rows[0] + rows.length);
        }
        MemorySegment out = Arena.ofAuto().allocate(rows.length * rowBytes, 16);
        for (int i = 0; i < rows.length; i++) {
            MemorySegment.copy(t.data(), rows[i] * rowBytes, out, i * rowBytes, rowBytes);
        }
        long[] shape = t.shape();
        shape[0] = rows.length;
        return new TensorData(t.name() + suffix, t.dtype(), shape, out);
    }

    /** {@code t} transposed ({@code [in, out]} to {@code [out, in]}). */
    static TensorData transpose(TensorData t) {
        int r = t.rows();
        int c = t.cols();
        int e = t.dtype().bytes();
        MemorySegment src = t.data();
        MemorySegment out = Arena.ofAuto().allocate((long) r * c * e, 16);
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < c; j++) {
                MemorySegment.copy(src, ((long) i * c + j) * e, out, ((long) j * r + i) * e, e);
            }
        }
        return new TensorData(t.name() + ".T", t.dtype(), new long[] {c, r}, out);
    }

    /** A new F32 tensor holding {@code values}. */
    static TensorData f32(String name, float[] values) {
        MemorySegment out = Arena.ofAuto().allocate((long) values.length * 4, 16);
        MemorySegment.copy(values, 0, out, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, values.length);
        return new TensorData(name, DType.F32, new long[] {values.length}, out);
    }
}
