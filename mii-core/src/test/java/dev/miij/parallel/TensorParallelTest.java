package dev.miij.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import dev.miij.arch.TransformerSpec;
import dev.miij.arch.WeightNames.Role;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The sharding plan's slices reassemble every weight, for 2 and 4 ranks, with MHA, GQA and MQA. */
class TensorParallelTest {

    static final int HEAD_DIM = 4;
    static final int HIDDEN = 24;
    static final int INTER = 40;

    static TransformerSpec spec(int heads, int kvHeads, int vocab) {
        TransformerSpec.Builder b = TransformerSpec.builder();
        b.modelType = "llama";
        b.vocabSize = vocab;
        b.hiddenSize = HIDDEN;
        b.numLayers = 1;
        b.numHeads = heads;
        b.numKvHeads = kvHeads;
        b.headDim = HEAD_DIM;
        b.intermediateSize = INTER;
        return b.build();
    }

    /** A {@code [rows, cols]} F32 matrix in native memory whose element (r, c) is {@code r * 1000 + c}. */
    static TensorData matrix(String name, int rows, int cols) {
        MemorySegment m = Arena.ofAuto().allocate((long) rows * cols * 4, 16);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                m.setAtIndex(ValueLayout.JAVA_FLOAT, (long) r * cols + c, r * 1000 + c);
            }
        }
        return new TensorData(name, DType.F32, new long[] {rows, cols}, m);
    }

    static float[][] dense(TensorData t) {
        float[][] out = new float[t.rows()][t.cols()];
        for (int r = 0; r < t.rows(); r++) {
            for (int c = 0; c < t.cols(); c++) {
                out[r][c] = t.getFloat((long) r * t.cols() + c);
            }
        }
        return out;
    }

    static float[][] concatRows(TensorData[] parts) {
        int rows = 0;
        for (TensorData p : parts) {
            rows += p.rows();
        }
        float[][] out = new float[rows][];
        int r = 0;
        for (TensorData p : parts) {
            for (float[] row : dense(p)) {
                out[r++] = row;
            }
        }
        return out;
    }

    static float[][] concatColumns(TensorData[] parts) {
        float[][] out = new float[parts[0].rows()][];
        for (int r = 0; r < out.length; r++) {
            int cols = 0;
            for (TensorData p : parts) {
                cols += p.cols();
            }
            out[r] = new float[cols];
            int c = 0;
            for (TensorData p : parts) {
                float[][] d = dense(p);
                System.arraycopy(d[r], 0, out[r], c, p.cols());
                c += p.cols();
            }
        }
        return out;
    }

    static void assertSameMatrix(float[][] expected, float[][] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": rows");
        for (int r = 0; r < expected.length; r++) {
            assertArrayEquals(expected[r], actual[r], what + ": row " + r);
        }
    }

    static TensorParallel[] plans(TransformerSpec spec, int size) {
        TensorParallel[] p = new TensorParallel[size];
        for (int r = 0; r < size; r++) {
            p[r] = new TensorParallel(r, size, spec);
        }
        return p;
    }

    @ParameterizedTest(name = "TP={0}, {1} heads, {2} KV heads")
    @CsvSource({"2, 8, 8", "2, 8, 2", "2, 8, 1", "4, 8, 8", "4, 8, 4", "4, 8, 2", "4, 8, 1", "4, 4, 4"})
    void columnParallelSlicesReassembleAndAreViews(int size, int heads, int kvHeads) {
        TransformerSpec spec = spec(heads, kvHeads, 64);
        TensorParallel[] plans = plans(spec, size);
        TensorData q = matrix("q", heads * HEAD_DIM, HIDDEN);
        TensorData gate = matrix("gate", INTER, HIDDEN);
        TensorData qBias = matrix("q.bias", heads * HEAD_DIM, 1);
        TensorData[] qs = new TensorData[size];
        TensorData[] gates = new TensorData[size];
        TensorData[] qBiases = new TensorData[size];
        for (int r = 0; r < size; r++) {
            qs[r] = plans[r].qRows(q);
            gates[r] = plans[r].widthRows(gate);
            qBiases[r] = plans[r].qRows(qBias);
            assertEquals(heads / size, plans[r].heads());
            // A row slice is a view of the checkpoint's bytes, not a copy.
            assertEquals(q.data().address() + (long) r * plans[r].qDim() * HIDDEN * 4, qs[r].data().address());
        }
        assertSameMatrix(dense(q), concatRows(qs), "q");
        assertSameMatrix(dense(gate), concatRows(gates), "gate/up");
        assertSameMatrix(dense(qBias), concatRows(qBiases), "q bias");
    }

    @ParameterizedTest(name = "TP={0}, {1} heads, {2} KV heads")
    @CsvSource({"2, 8, 8", "2, 8, 2", "2, 8, 1", "4, 8, 8", "4, 8, 4", "4, 8, 2", "4, 8, 1"})
    void kvHeadsAreSplitOrReplicatedAndMatchTheirQueryHeads(int size, int heads, int kvHeads) {
        TransformerSpec spec = spec(heads, kvHeads, 64);
        TensorParallel[] plans = plans(spec, size);
        TensorData k = matrix("k", kvHeads * HEAD_DIM, HIDDEN);
        TensorData[] ks = new TensorData[size];
        Set<Integer> covered = new HashSet<>();
        for (int r = 0; r < size; r++) {
            TensorParallel p = plans[r];
            ks[r] = p.kvRows(k);
            assertEquals(Math.max(1, kvHeads / size), p.kvHeads());
            assertEquals(p.kvDim(), ks[r].rows());
            // Each local query head j (global firstHead + j) must find its KV head at local index
            // j / localGroup, as attention computes it from the local head counts.
            int group = heads / kvHeads;
            int localGroup = p.heads() / p.kvHeads();
            for (int j = 0; j < p.heads(); j++) {
                int globalKv = (p.firstHead() + j) / group;
                assertEquals(globalKv, p.firstKvHead() + j / localGroup, "rank " + r + " local head " + j);
            }
            for (int h = 0; h < p.kvHeads(); h++) {
                covered.add(p.firstKvHead() + h);
                assertArrayEquals(dense(k)[(p.firstKvHead() + h) * HEAD_DIM], dense(ks[r])[h * HEAD_DIM]);
            }
        }
        assertEquals(kvHeads, covered.size(), "every KV head is held by some rank");
        if (kvHeads >= size) {
            assertSameMatrix(dense(k), concatRows(ks), "k/v");
        }
    }

    @ParameterizedTest(name = "TP={0}")
    @ValueSource(ints = {2, 4})
    void rowParallelSlicesReassembleByColumnsAndTheirBiasIsAddedOnce(int size) {
        TransformerSpec spec = spec(8, 2, 64);
        TensorParallel[] plans = plans(spec, size);
        TensorData o = matrix("o", HIDDEN, 8 * HEAD_DIM);
        TensorData down = matrix("down", HIDDEN, INTER);
        TensorData[] os = new TensorData[size];
        TensorData[] downs = new TensorData[size];
        Object bias = new Object();
        for (int r = 0; r < size; r++) {
            os[r] = plans[r].oColumns(o);
            downs[r] = plans[r].downColumns(down);
            assertEquals(plans[r].qDim(), os[r].cols(), "o's columns follow the rank's q heads");
            if (r == 0) {
                assertSame(bias, plans[r].onFirstRank(bias));
            } else {
                assertNull(plans[r].onFirstRank(bias));
            }
        }
        assertSameMatrix(dense(o), concatColumns(os), "o");
        assertSameMatrix(dense(down), concatColumns(downs), "down");
    }

    @ParameterizedTest(name = "TP={0}, vocabulary {1}")
    @CsvSource({"2, 64", "4, 64", "4, 510", "2, 511"})
    void vocabularySlicesReassembleEvenWhenTheyDoNotDivide(int size, int vocab) {
        TransformerSpec spec = spec(8, 2, vocab);
        TensorParallel[] plans = plans(spec, size);
        TensorData embed = matrix("embed", vocab, HIDDEN);
        TensorData bias = matrix("lm_head.bias", vocab, 1);
        TensorData[] parts = new TensorData[size];
        TensorData[] biases = new TensorData[size];
        int next = 0;
        for (int r = 0; r < size; r++) {
            assertEquals(next, plans[r].vocabFrom());
            next = plans[r].vocabTo();
            assertTrue(Math.abs(plans[r].vocabRows() - vocab / size) <= 1);
            parts[r] = plans[r].vocabRows(embed);
            biases[r] = plans[r].vocabRows(bias);
        }
        assertEquals(vocab, next);
        assertSameMatrix(dense(embed), concatRows(parts), "embedding / LM head");
        assertSameMatrix(dense(bias), concatRows(biases), "LM head bias");
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void everyDenseRoleHasASplitAndNormsAreReplicated(int size) {
        for (Role role : Role.values()) {
            switch (role) {
                case ROUTER, EXPERT_GATE, EXPERT_UP, EXPERT_DOWN, SHARED_GATE, SHARED_UP, SHARED_DOWN, SHARED_EXPERT_GATE ->
                        assertThrows(IllegalArgumentException.class, () -> TensorParallel.split(role));
                case ATTN_NORM, POST_ATTN_NORM, MLP_NORM, POST_MLP_NORM, FINAL_NORM, EMBED_NORM, Q_NORM, K_NORM,
                     POSITIONS, PROJECT_IN, PROJECT_OUT -> assertEquals(TensorParallel.Split.REPLICATED, TensorParallel.split(role));
                case O, DOWN -> assertEquals(TensorParallel.Split.COLUMNS, TensorParallel.split(role));
                default -> assertEquals(TensorParallel.Split.ROWS, TensorParallel.split(role), role.name());
            }
        }
    }

    @ParameterizedTest(name = "TP={0}")
    @ValueSource(ints = {2, 4})
    void alibiSlopesFollowTheQueryHeads(int size) {
        TransformerSpec spec = spec(8, 8, 64);
        float[] slopes = {1, 2, 3, 4, 5, 6, 7, 8};
        float[] joined = new float[0];
        for (TensorParallel p : plans(spec, size)) {
            float[] s = p.alibiSlopes(slopes);
            float[] j = java.util.Arrays.copyOf(joined, joined.length + s.length);
            System.arraycopy(s, 0, j, joined.length, s.length);
            joined = j;
        }
        assertArrayEquals(slopes, joined);
    }

    @org.junit.jupiter.api.Test
    void unsupportedShapesAreRefusedWithAReason() {
        MiiException e = assertThrows(MiiException.class, () -> new TensorParallel(0, 3, spec(8, 2, 64)));
        assertTrue(e.getMessage().contains("8 attention heads do not divide among 3 ranks"), e.getMessage());
        e = assertThrows(MiiException.class, () -> new TensorParallel(0, 4, spec(8, 6, 64)));
        assertTrue(e.getMessage().contains("KV heads"), e.getMessage());
    }
}
