package dev.miij.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.backend.Experts;
import dev.miij.backend.Weight;
import org.junit.jupiter.api.Test;

/** The host-side arithmetic of the device MoE path (no GPU needed). */
class CudaMoeLayoutTest {

    @Test
    void alignmentRowsPutEveryExpertSliceOn256Bytes() {
        assertEquals(1, CudaMoe.alignRows(4096, 14336)); // Mixtral-8x7B
        assertEquals(1, CudaMoe.alignRows(2048, 1408));  // Qwen1.5-MoE-A2.7B: 2816-byte rows
        assertEquals(1, CudaMoe.alignRows(2048, 768));   // Qwen3-30B-A3B
        assertEquals(4, CudaMoe.alignRows(64, 32));      // 64-byte rows: four to 256 bytes
        assertEquals(2, CudaMoe.alignRows(64, 128));
        assertEquals(8, CudaMoe.alignRows(64, 48));      // 96-byte rows
        for (int hidden : new int[] {64, 96, 128, 200, 4096}) {
            for (int width : new int[] {32, 48, 96, 1408, 14336}) {
                int a = CudaMoe.alignRows(hidden, width);
                assertEquals(0, 2L * hidden * a % 256, hidden + " x " + width);
                assertEquals(0, 2L * width * a % 256, hidden + " x " + width);
            }
        }
    }

    @Test
    void paddedRowsLeaveRoomForEveryGap() {
        assertEquals(8, CudaMoe.paddedRows(8, 4, 1));
        // 3 experts of 1 slot each at alignment 4: offsets 0, 4, 8, total 12 = 3 + 3 * 3.
        assertEquals(12, CudaMoe.paddedRows(3, 3, 4));
    }

    @Test
    void decodeAndCapturedStepsNeverWaitForTheHost() {
        assertTrue(CudaMoe.useGemv(1, false));
        assertTrue(CudaMoe.useGemv(CudaMoe.GEMV_MAX_ROWS, false));
        assertFalse(CudaMoe.useGemv(CudaMoe.GEMV_MAX_ROWS + 1, false));
        assertTrue(CudaMoe.useGemv(256, true));
    }

    @Test
    void theKernelsTakeWholeSixteenByteRowsOnly() {
        assertTrue(CudaMoe.supports(experts(8, 2, 64, 32)));
        assertFalse(CudaMoe.supports(experts(8, 2, 60, 32)));
        assertFalse(CudaMoe.supports(experts(8, 2, 64, 36)));
        assertFalse(CudaMoe.supports(experts(CudaMoe.MAX_EXPERTS + 1, 2, 64, 32)));
        assertFalse(CudaMoe.supports(experts(32, CudaMoe.MAX_TOP_K + 1, 64, 32)));
    }

    @Test
    void activationNumbersMatchTheKernels() {
        assertEquals(0, FamilyKernels.kind(Activation.SILU));
        assertEquals(1, FamilyKernels.kind(Activation.GELU_TANH));
        assertEquals(2, FamilyKernels.kind(Activation.GELU));
        assertEquals(3, FamilyKernels.kind(Activation.RELU));
    }

    private static Experts experts(int n, int topK, int hidden, int width) {
        Weight[] g = new Weight[n];
        Weight[] d = new Weight[n];
        for (int e = 0; e < n; e++) {
            g[e] = new Shape(width, hidden);
            d[e] = new Shape(hidden, width);
        }
        return new Experts(new Shape(n, hidden), g, g, d, topK, true, Activation.SILU);
    }

    private record Shape(int outDim, int inDim) implements Weight {
        @Override
        public long byteSize() {
            return 2L * outDim * inDim;
        }
    }
}
