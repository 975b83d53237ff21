package dev.miij.cuda;

import dev.miij.model.DType;
import static dev.miij.cuda.Gpu.bf16;
import static dev.miij.cuda.Gpu.random;
import static dev.miij.cuda.Gpu.relError;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.backend.Backend;
import dev.miij.backend.Experts;
import dev.miij.backend.Tensor;
import dev.miij.backend.Weight;
import dev.miij.backend.cpu.CpuBackend;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Mixture-of-experts layers routed on the device against the CPU backend's host routing, on the
 * same (BF16-representable) random weights: decode-size steps (the GEMV kernels), large steps
 * (per-expert GEMMs), renormalised top-k or not, widths that need the padded layout.
 *
 * <p>The router is an identity on the first {@code experts} columns and those columns of each row
 * hold a shuffled ramp (multiples of 0.25): every row's routing is unambiguous, so BF16 rounding
 * cannot pick other experts than the CPU does, while softmax weights still differ per row.
 */
class CudaMoeTest extends OnGpu {

    @ParameterizedTest
    @CsvSource({
            // rows, experts, topK, hidden, width, normalize, activation
            "1,8,2,64,128,true,SILU",
            "3,4,2,64,32,false,SILU",      // Qwen1.5-MoE's shape in the fixture: padded rows (width 32)
            "8,16,4,128,96,true,SILU",
            "32,8,2,64,128,true,GELU_TANH",
            "33,8,2,64,128,true,SILU",     // the first size with per-expert GEMMs
            "100,4,2,64,32,false,SILU",
            "300,16,4,256,64,true,SILU",
            "64,60,4,128,48,false,SILU",   // more experts than lanes of a warp
    })
    void matchesHostRouting(int rows, int experts, int topK, int hidden, int width, boolean normalize, Activation act) {
        Random rnd = new Random(rows * 131 + experts * 7 + hidden);
        float[] router = new float[experts * hidden];
        for (int e = 0; e < experts; e++) {
            router[e * hidden + e] = 1f;
        }
        float[][] gates = new float[experts][];
        float[][] ups = new float[experts][];
        float[][] downs = new float[experts][];
        for (int e = 0; e < experts; e++) {
            gates[e] = bf16(random(rnd, width * hidden, 0.1f));
            ups[e] = bf16(random(rnd, width * hidden, 0.1f));
            downs[e] = bf16(random(rnd, hidden * width, 0.1f));
        }
        float[] x = bf16(random(rnd, rows * hidden, 1f));
        for (int r = 0; r < rows; r++) {
            int[] perm = permutation(rnd, experts);
            for (int e = 0; e < experts; e++) {
                x[r * hidden + e] = 0.25f * perm[e] - 1f;
            }
        }
        float[] residual = bf16(random(rnd, rows * hidden, 1f));
        float[] onGpu = run(gpu, router, gates, ups, downs, x, residual, rows, experts, topK, hidden, width, normalize, act);
        float[] onCpu = run(cpu, router, gates, ups, downs, x, residual, rows, experts, topK, hidden, width, normalize, act);
        double err = relError(onGpu, onCpu);
        assertTrue(err < 2e-2, "moe error " + err);
        // The experts' part alone, so that the residual does not hide it.
        float[] deltaGpu = new float[onGpu.length];
        float[] deltaCpu = new float[onCpu.length];
        for (int i = 0; i < onGpu.length; i++) {
            deltaGpu[i] = onGpu[i] - residual[i];
            deltaCpu[i] = onCpu[i] - residual[i];
        }
        double scale = 0;
        for (float d : deltaCpu) {
            scale = Math.max(scale, Math.abs(d));
        }
        double deltaErr = 0;
        for (int i = 0; i < deltaGpu.length; i++) {
            deltaErr = Math.max(deltaErr, Math.abs(deltaGpu[i] - deltaCpu[i]));
        }
        assertTrue(scale > 1e-3, "the experts contributed nothing");
        assertTrue(deltaErr < 3e-2 * Math.max(scale, 0.05) + 1e-2, "experts' output error " + deltaErr + " of " + scale);
    }

    private static float[] run(Backend b, float[] router, float[][] gates, float[][] ups, float[][] downs, float[] x,
                               float[] residual, int rows, int experts, int topK, int hidden, int width, boolean normalize,
                               Activation act) {
        b.beginStep();
        Weight[] g = new Weight[experts];
        Weight[] u = new Weight[experts];
        Weight[] d = new Weight[experts];
        for (int e = 0; e < experts; e++) {
            g[e] = b.weight(tensor(gates[e], DType.F32, width, hidden));
            u[e] = b.weight(tensor(ups[e], DType.F32, width, hidden));
            d[e] = b.weight(tensor(downs[e], DType.F32, hidden, width));
        }
        Experts ex = new Experts(b.weight(tensor(router, DType.F32, experts, hidden)), g, u, d, topK, normalize, act);
        Tensor res = b.upload(residual, rows, hidden);
        b.moe(b.upload(x, rows, hidden), ex, res);
        return b.toHost(res);
    }

    private static int[] permutation(Random rnd, int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
