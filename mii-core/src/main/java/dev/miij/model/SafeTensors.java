package dev.miij.model;

import dev.miij.MiiException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The tensors of a safetensors checkpoint, single-file or sharded, memory-mapped read-only: tensor
 * bytes stay in the page cache and are never copied onto the Java heap.
 *
 * <pre>{@code
 * try (SafeTensors weights = SafeTensors.open(Path.of("models/Qwen3-0.6B"))) {
 *     TensorData embed = weights.get("model.embed_tokens.weight");
 *     System.out.println(embed.dtype() + " " + Arrays.toString(embed.shape()));
 * }
 * }</pre>
 *
 * <p>Every header is validated when the checkpoint is opened, so a truncated or inconsistent file
 * fails at once with a {@link MiiException} naming it, not later inside a kernel. The mappings
 * live until {@link #close()}; segments obtained before then must not be used afterwards.
 */
public final class SafeTensors implements WeightSource {

    private final String location;
    private final Arena arena;
    private final List<Path> files;
    private final Map<String, TensorData> tensors;
    private final Map<String, String> metadata;
    private volatile boolean closed;

    private SafeTensors(String location, Arena arena, List<Path> files, Map<String, TensorData> tensors, Map<String, String> metadata) {
        this.location = location;
        this.arena = arena;
        this.files = files;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Opens the checkpoint of a model folder: {@code model.safetensors}, else the shards listed by
     * {@code model.safetensors.index.json}.
     *
     * @throws MiiException NOT_FOUND when the folder has no safetensors weights, UNSUPPORTED when it
     *     has only PyTorch {@code .bin} files, CORRUPT when a file or the index is damaged
     */
    public static SafeTensors open(Path folder) {
        CheckpointFiles.Located located = CheckpointFiles.locate(folder);
        SafeTensors st = map(folder.toString(), located.files());
        try {
            st.checkIndex(located.weightMap());
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
        return st;
    }

    /** Opens one {@code .safetensors} file on its own. */
    public static SafeTensors openFile(Path file) {
        return map(file.toString(), List.of(file));
    }

    private static SafeTensors map(String location, List<Path> files) {
        Arena arena = Arena.ofShared(); // shared: the engine reads weights from many threads
        try {
            Map<String, TensorData> tensors = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Path> origin = new LinkedHashMap<>();
            for (Path file : files) {
                MemorySegment whole = mapReadOnly(file, arena);
                SafeTensorsHeader header = SafeTensorsHeader.parse(file, whole);
                for (SafeTensorsHeader.Entry e : header.tensors().values()) {
                    Path first = origin.putIfAbsent(e.name(), file);
                    if (first != null) {
                        throw MiiException.corrupt("tensor '" + e.name() + "' appears in both " + first + " and " + file
                                + "; the checkpoint is inconsistent");
                    }
                    MemorySegment bytes = whole.asSlice(header.dataStart() + e.begin(), e.end() - e.begin()).asReadOnly();
                    tensors.put(e.name(), new TensorData(e.name(), e.dtype(), e.shape(), bytes));
                }
                header.metadata().forEach(metadata::putIfAbsent);
            }
            return new SafeTensors(location, arena, List.copyOf(files), Collections.unmodifiableMap(tensors),
                    Collections.unmodifiableMap(metadata));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static MemorySegment mapReadOnly(Path file, Arena arena) {
        // The mapping outlives the channel: closing the channel does not unmap.
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (NoSuchFileException e) {
            throw MiiException.notFound("weight file " + file + " does not exist");
        } catch (IOException e) {
            throw MiiException.io("cannot map weight file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Each tensor the index promises must be in the shard it names, or loading would fail later and less clearly. */
    private void checkIndex(Map<String, String> weightMap) {
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
            if (!tensors.containsKey(e.getKey())) {
                throw MiiException.corrupt(CheckpointFiles.INDEX + " in " + location + " places tensor '" + e.getKey()
                        + "' in " + e.getValue() + ", but that shard does not contain it; the checkpoint is inconsistent");
            }
        }
    }

    @Override
    public Set<String> names() {
        return tensors.keySet(); // unmodifiable, in file order
    }

    @Override
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    @Override
    public TensorData get(String name) {
        if (closed) {
            throw new IllegalStateException("weights of " + location + " are closed");
        }
        TensorData t = tensors.get(name);
        if (t == null) {
            throw MiiException.corrupt("tensor '" + name + "' is missing from the checkpoint in " + location + " ("
                    + tensors.size() + " tensors" + similar(name) + "); the weights do not match this model's architecture"
                    + " or the download is incomplete");
        }
        return t;
    }

    /** Up to three names sharing the requested name's last component, to hint at naming mismatches. */
    private String similar(String name) {
        String last = name.substring(name.lastIndexOf('.') + 1);
        List<String> out = new ArrayList<>();
        for (String n : tensors.keySet()) {
            if (out.size() < 3 && n.endsWith("." + last)) {
                out.add(n);
            }
        }
        return out.isEmpty() ? "" : ", e.g. " + String.join(", ", out);
    }

    /** The {@code __metadata__} of the files, merged (the first file's value wins). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The files mapped, in load order. */
    public List<Path> files() {
        return files;
    }

    /** Total bytes of tensor data. */
    public long byteSize() {
        long n = 0;
        for (TensorData t : tensors.values()) {
            n += t.data().byteSize();
        }
        return n;
    }

    /** Unmaps every file; closing twice is harmless. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "SafeTensors[" + location + ", " + tensors.size() + " tensors]";
    }
}
