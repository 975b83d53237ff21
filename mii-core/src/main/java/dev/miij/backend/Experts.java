package dev.miij.backend;

import dev.miij.arch.TransformerSpec.Activation;

/**
 * The experts of one mixture-of-experts layer, as {@link Backend#moe} runs them: a router
 * ({@code numExperts x hidden}) and, per expert, a gated MLP {@code down(act(gate(x)) * up(x))}
 * without biases.
 *
 * @param router        router weights; its logits' softmax picks each row's experts
 * @param gates         gate projection of each expert ({@code width x hidden})
 * @param ups           up projection of each expert ({@code width x hidden})
 * @param downs         down projection of each expert ({@code hidden x width})
 * @param topK          experts each row is routed to
 * @param normalizeTopK whether the chosen experts' probabilities are rescaled to sum to 1
 *                      (Mixtral, Qwen3-MoE) or used as they are (Qwen1.5-MoE)
 * @param activation    the experts' activation
 */
public record Experts(Weight router, Weight[] gates, Weight[] ups, Weight[] downs, int topK, boolean normalizeTopK,
                      Activation activation) {

    public Experts {
        int n = gates.length;
        if (ups.length != n || downs.length != n || router.outDim() != n) {
            throw new IllegalArgumentException("a router of " + router.outDim() + " experts for " + n + " gates, "
                    + ups.length + " ups and " + downs.length + " downs");
        }
        if (topK < 1 || topK > n) {
            throw new IllegalArgumentException("top-" + topK + " routing over " + n + " experts");
        }
    }

    public int count() {
        return gates.length;
    }

    /** Input (and output) width. */
    public int hidden() {
        return router.inDim();
    }

    /** Width of each expert's MLP. */
    public int width() {
        return gates[0].outDim();
    }
}
