package dev.miij.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated header of one safetensors file: an 8-byte little-endian length, then
 * that many bytes of JSON mapping tensor names to dtype, shape and byte range within the data
 * section that follows the header.
 */
record SafeTensorsHeader(long dataStart, Map<String, Entry> tensors, Map<String, String> metadata) {

    /** Headers beyond this are refused before any allocation; the reference implementation uses the same limit. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    /** One tensor's entry: byte offsets are relative to {@link #dataStart()}. */
    record Entry(String name, DType dtype, long[] shape, long begin, long end) {}

    private static final ValueLayout.OfLong U64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Reads and checks the header of {@code file}, already mapped as {@code bytes}. */
    static SafeTensorsHeader parse(Path file, MemorySegment bytes) {
        long fileSize = bytes.byteSize();
        if (fileSize < 8) {
            throw MiiException.corrupt(file + " is " + fileSize + " bytes, too short to be a safetensors file"
                    + " (it needs at least an 8-byte header length); the download is probably incomplete");
        }
        long headerLength = bytes.get(U64_LE, 0);
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw MiiException.corrupt(file + " declares a header of " + Long.toUnsignedString(headerLength)
                    + " bytes, more than the 100 MB limit; it is probably not a safetensors file");
        }
        if (headerLength > fileSize - 8) {
            throw MiiException.corrupt(file + " is shorter than its header: the header length says " + headerLength
                    + " bytes but only " + (fileSize - 8) + " follow; the file is truncated, download it again");
        }
        byte[] json = bytes.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root = Json.parseObject(Json.STRICT, json, "the header of " + file);
        long dataStart = 8 + headerLength;
        long dataSize = fileSize - dataStart;

        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Entry> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (field.getKey().equals("__metadata__")) {
                readMetadata(file, field.getValue(), metadata);
            } else {
                Entry e = readEntry(file, field.getKey(), field.getValue(), dataSize);
                tensors.put(e.name(), e);
            }
        }
        checkNoOverlap(file, tensors);
        return new SafeTensorsHeader(dataStart, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private static void readMetadata(Path file, JsonNode node, Map<String, String> out) {
        if (!node.isObject()) {
            throw MiiException.corrupt("__metadata__ in " + file + " must be an object of strings");
        }
        // The format asks for string values; other scalars are kept as their JSON text rather than refused.
        node.properties().forEach(p -> out.put(p.getKey(), p.getValue().isTextual() ? p.getValue().asText() : p.getValue().toString()));
    }

    private static Entry readEntry(Path file, String name, JsonNode node, long dataSize) {
        String where = "tensor '" + name + "' in " + file;
        if (!node.isObject()) {
            throw MiiException.corrupt(where + " must be described by an object with dtype, shape and data_offsets");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw MiiException.corrupt(where + " has no dtype");
        }
        DType dtype = dtypeOf(dtypeNode.asText());
        if (dtype == null) {
            throw MiiException.unsupported(where + " has dtype '" + dtypeNode.asText() + "', which MII-J does not know"
                    + " (known: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2)");
        }
        long[] shape = readLongs(node.get("shape"), where + " has an invalid shape", -1);
        long[] offsets = readLongs(node.get("data_offsets"), where + " has invalid data_offsets", 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw MiiException.corrupt(where + " has data_offsets [" + begin + ", " + end + "] that end before they begin");
        }
        if (end > dataSize) {
            throw MiiException.corrupt(where + " has data_offsets [" + begin + ", " + end + "] beyond the " + dataSize
                    + " data bytes of the file; the file is truncated or corrupt, download it again");
        }
        long expected;
        try {
            long elements = 1;
            for (long d : shape) {
                elements = Math.multiplyExact(elements, d);
            }
            expected = Math.multiplyExact(elements, (long) dtype.bytes());
        } catch (ArithmeticException e) {
            throw MiiException.corrupt(where + " has a shape too large to address: " + Arrays.toString(shape));
        }
        if (end - begin != expected) {
            throw MiiException.corrupt(where + " holds " + (end - begin) + " bytes but " + dtype + Arrays.toString(shape)
                    + " needs " + expected + "; the header is inconsistent");
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static DType dtypeOf(String name) {
        for (DType d : DType.values()) {
            if (d.safetensorsName().equals(name)) {
                return d;
            }
        }
        return null;
    }

    /** Reads an array of non-negative integers; {@code length} -1 accepts any length. */
    private static long[] readLongs(JsonNode node, String error, int length) {
        if (node == null || !node.isArray() || (length >= 0 && node.size() != length)) {
            throw MiiException.corrupt(error + ": " + node);
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.canConvertToExactIntegral() || !v.canConvertToLong() || v.asLong() < 0) {
                throw MiiException.corrupt(error + ": " + node);
            }
            out[i] = v.asLong();
        }
        return out;
    }

    /** Two tensors sharing bytes would silently alias each other's weights, so any overlap is refused. */
    private static void checkNoOverlap(Path file, Map<String, Entry> tensors) {
        List<Entry> sorted = new ArrayList<>();
        for (Entry e : tensors.values()) {
            if (e.end() > e.begin()) {
                sorted.add(e);
            }
        }
        sorted.sort(Comparator.comparingLong(Entry::begin));
        for (int i = 1; i < sorted.size(); i++) {
            Entry prev = sorted.get(i - 1);
            Entry cur = sorted.get(i);
            if (cur.begin() < prev.end()) {
                throw MiiException.corrupt("tensors '" + prev.name() + "' [" + prev.begin() + ", " + prev.end() + ") and '"
                        + cur.name() + "' [" + cur.begin() + ", " + cur.end() + ") overlap in " + file + "; the file is corrupt");
            }
        }
    }
}
