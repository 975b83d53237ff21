package dev.miij.cli;

import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.Backend;
import dev.miij.model.WeightSource;
import dev.miij.parallel.LeadRank;
import java.nio.file.Path;

/**
 * The model a command runs its engine on: loaded whole on one device, or rank 0's slices leading
 * ranks 1..N-1 that it starts as processes of this host ({@code --tensor-parallel N}).
 */
final class RankedModel implements AutoCloseable {

    private final DecoderModel model;
    private final LeadRank lead;

    private RankedModel(DecoderModel model, LeadRank lead) {
        this.model = model;
        this.lead = lead;
    }

    /**
     * @param backend        where one rank loads the model (null to open {@code device}'s); unused, and
     *                       to be null, for a group, whose ranks open their own devices
     * @param dir            the model folder (the other ranks load it too)
     * @param device         "cpu", "cuda" or null (the default device)
     * @param tensorParallel ranks
     */
    static RankedModel open(Backend backend, Path dir, TransformerSpec spec, WeightSource weights, String device,
                            int tensorParallel) {
        if (tensorParallel > 1) {
            LeadRank lead = LeadRank.launch(dir, spec, weights, device, tensorParallel);
            return new RankedModel(lead.model(), lead);
        }
        Backend b = backend != null ? backend : dev.miij.backend.Devices.open(device);
        return new RankedModel(new DecoderModel(spec, weights, b), null);
    }

    DecoderModel model() {
        return model;
    }

    @Override
    public void close() {
        if (lead != null) {
            lead.close();
        } else {
            model.close();
        }
    }
}
