package dev.miij.engine;

import dev.miij.MiiException;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.Backend;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import java.util.Locale;
import java.util.logging.Logger;

/**
 * KV sizing on a device with memory of its own (a GPU): the same idea as {@link KvSizing} (the cache
 * holds what the configured sequences can use), but the budget is the backend's: gpu_memory_utilization
 * of the device's memory less the weights and the activations of the largest step, which a warm-up
 * step of a full token budget measures first (as vLLM's profile run does).
 */
final class DeviceKvSizing {

    private static final Logger LOG = Logger.getLogger(DeviceKvSizing.class.getName());

    private DeviceKvSizing() {
    }

    /** The plan for a backend with device memory, or null when its cache lives on the Java heap. */
    static KvSizing.Plan plan(DecoderModel model, EngineConfig config) {
        Backend backend = model.backend();
        double utilization = config.gpuMemoryUtilization();
        if (backend.kvCacheBudget(utilization) < 0) {
            return null;
        }
        long perBlock = model.kvBlockBytes(config.kvBlockSize());
        if (config.numKvBlocks() > 0) {
            return new KvSizing.Plan(config.numKvBlocks(), config.numKvBlocks() * perBlock, "as configured (num_kv_blocks)");
        }
        long t0 = System.nanoTime();
        int rows = warmUp(model, config);
        long budget = backend.kvCacheBudget(utilization);
        LOG.info(String.format(Locale.ROOT, "warm-up step of %d tokens in %.0f ms; the KV cache may take %s", rows,
                (System.nanoTime() - t0) / 1e6, KvSizing.mib(budget)));
        return plan(perBlock, model.spec().maxPositions(), config, budget);
    }

    /**
     * @param perBlock     bytes of one block across all layers
     * @param maxPositions the model's context length
     * @param deviceBudget bytes the backend can give the cache (see {@link Backend#kvCacheBudget})
     */
    static KvSizing.Plan plan(long perBlock, int maxPositions, EngineConfig config, long deviceBudget) {
        if (config.numKvBlocks() > 0) {
            return new KvSizing.Plan(config.numKvBlocks(), config.numKvBlocks() * perBlock, "as configured (num_kv_blocks)");
        }
        int sequences = Math.min(config.maxRaggedSequenceCount(), config.maxTrackedSequences());
        long wanted = (long) sequences * Scheduler.ceilDiv(maxPositions, config.kvBlockSize());
        boolean explicitBudget = config.kvCacheMemoryBytes() > 0;
        long budget = explicitBudget ? config.kvCacheMemoryBytes() : Math.max(0, deviceBudget);
        long blocks = Math.min(wanted, Math.min(budget / perBlock, Integer.MAX_VALUE - 1));
        if (blocks < 1) {
            throw new MiiException(MiiException.Kind.RESOURCE_EXHAUSTED, "no room on the GPU for even one KV block of "
                    + KvSizing.mib(perBlock) + " (budget " + KvSizing.mib(budget) + (explicitBudget ? ", kv_cache_memory" :
                    " at gpu_memory_utilization " + config.gpuMemoryUtilization() + ", after the weights and the largest"
                            + " step's activations") + "); raise --gpu-memory-utilization, lower --max-ragged-batch-size,"
                    + " or use a GPU with more memory");
        }
        String why;
        if (blocks == wanted) {
            why = "enough for " + sequences + (sequences == 1 ? " sequence" : " sequences") + " of " + maxPositions
                    + " tokens (max_ragged_sequence_count x the model's context)";
        } else if (explicitBudget) {
            why = "capped by kv_cache_memory (" + KvSizing.mib(budget) + ")";
        } else {
            why = String.format(Locale.ROOT, "gpu_memory_utilization %.2f of the GPU, less the weights and the largest"
                    + " step's activations", config.gpuMemoryUtilization());
        }
        return new KvSizing.Plan((int) blocks, blocks * perBlock, why);
    }

    /**
     * Runs one step as large as the scheduler may build: max_ragged_batch_size tokens over as many
     * sequences as one step may hold (each asking for logits), in a cache of its own that is freed
     * afterwards. Its activations are the most any step needs. Returns the rows it ran.
     */
    static int warmUp(DecoderModel model, EngineConfig config) {
        RaggedBatch batch = warmUpBatch(config.maxRaggedBatchSize(),
                Math.min(config.maxRaggedSequenceCount(), config.maxTrackedSequences()), model.spec().maxPositions(),
                model.spec().vocabSize(), config.kvBlockSize());
        int blocks = 0;
        for (int[] t : batch.blockTables()) {
            blocks += t.length;
        }
        try (KvCache cache = model.newKvCache(blocks, config.kvBlockSize())) {
            model.forward(batch, cache);
        }
        return batch.numRows();
    }

    /** {@code tokens} rows over min(tokens, sequences) prompts, none longer than the context, on fresh blocks. */
    static RaggedBatch warmUpBatch(int tokens, int sequences, int maxPositions, int vocab, int blockSize) {
        int seqs = Math.max(1, Math.min(tokens, sequences));
        seqs = Math.max(seqs, Scheduler.ceilDiv(tokens, maxPositions));
        int[] ids = new int[tokens];
        int[] positions = new int[tokens];
        int[] slots = new int[tokens];
        int[] starts = new int[seqs + 1];
        int[] lens = new int[seqs];
        int[][] tables = new int[seqs][];
        int[] logitRows = new int[seqs];
        int row = 0;
        int nextBlock = 0;
        for (int s = 0; s < seqs; s++) {
            int len = tokens / seqs + (s < tokens % seqs ? 1 : 0);
            starts[s] = row;
            lens[s] = len;
            tables[s] = new int[Scheduler.ceilDiv(len, blockSize)];
            for (int b = 0; b < tables[s].length; b++) {
                tables[s][b] = nextBlock++;
            }
            for (int p = 0; p < len; p++, row++) {
                ids[row] = (int) ((row * 7919L + 1) % vocab);
                positions[row] = p;
                slots[row] = tables[s][p / blockSize] * blockSize + p % blockSize;
            }
            logitRows[s] = row - 1;
        }
        starts[seqs] = row;
        return new RaggedBatch(ids, positions, slots, starts, lens, tables, logitRows);
    }
}
