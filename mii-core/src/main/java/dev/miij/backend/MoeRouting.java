package dev.miij.backend;

/**
 * Top-k routing of a mixture-of-experts layer on the host: softmax over each row's router logits,
 * the {@code topK} most probable experts (ties to the lower expert id), and their probabilities,
 * renormalised to sum to 1 when asked. The reference that device routing kernels are held to.
 */
public final class MoeRouting {

    private MoeRouting() {
    }

    /**
     * Each row's chosen experts: row {@code r}'s {@code j}-th most probable expert is
     * {@code experts[r * topK + j]}, with weight {@code weights[r * topK + j]}.
     */
    public record Routes(int rows, int topK, int[] experts, float[] weights) {
    }

    /** Routes {@code rows} rows of {@code logits} ({@code rows x numExperts}, row-major). */
    public static Routes route(float[] logits, int rows, int numExperts, int topK, boolean normalize) {
        int[] experts = new int[rows * topK];
        float[] weights = new float[rows * topK];
        double[] p = new double[numExperts];
        boolean[] taken = new boolean[numExperts];
        for (int r = 0; r < rows; r++) {
            int off = r * numExperts;
            double max = Double.NEGATIVE_INFINITY;
            for (int e = 0; e < numExperts; e++) {
                max = Math.max(max, logits[off + e]);
            }
            double sum = 0;
            for (int e = 0; e < numExperts; e++) {
                p[e] = Math.exp(logits[off + e] - max);
                sum += p[e];
            }
            java.util.Arrays.fill(taken, false);
            double topSum = 0;
            for (int t = 0; t < topK; t++) {
                int best = -1;
                for (int e = 0; e < numExperts; e++) {
                    if (!taken[e] && (best < 0 || p[e] > p[best])) {
                        best = e;
                    }
                }
                taken[best] = true;
                experts[r * topK + t] = best;
                topSum += p[best] / sum;
            }
            for (int t = 0; t < topK; t++) {
                double w = p[experts[r * topK + t]] / sum;
                if (normalize) {
                    w /= topSum;
                }
                weights[r * topK + t] = (float) w;
            }
        }
        return new Routes(rows, topK, experts, weights);
    }
}
