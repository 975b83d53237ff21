package dev.miij.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Writes small safetensors files for tests, plus raw header/data pairs to build corrupt ones. */
final class SafeTensorsWriter {

    private record Tensor(String name, DType dtype, long[] shape, byte[] bytes) {}

    private final List<Tensor> tensors = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    SafeTensorsWriter add(String name, DType dtype, long[] shape, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            switch (dtype) {
                case F32 -> b.putFloat(v);
                case F16 -> b.putShort(Float.floatToFloat16(v));
                case BF16 -> b.putShort((short) (Float.floatToIntBits(v) >>> 16)); // truncation: exact for the values tests use
                default -> throw new IllegalArgumentException(dtype.toString());
            }
        }
        return addRaw(name, dtype, shape, b.array());
    }

    SafeTensorsWriter addRaw(String name, DType dtype, long[] shape, byte[] bytes) {
        tensors.add(new Tensor(name, dtype, shape, bytes));
        return this;
    }

    SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    Path write(Path file) {
        ObjectNode header = Json.MAPPER.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        var data = new java.io.ByteArrayOutputStream();
        for (Tensor t : tensors) {
            ObjectNode e = header.putObject(t.name());
            e.put("dtype", t.dtype().safetensorsName());
            var shape = e.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            e.putArray("data_offsets").add(offset).add(offset + t.bytes().length);
            offset += t.bytes().length;
            data.writeBytes(t.bytes());
        }
        return writeRaw(file, header.toString(), data.toByteArray());
    }

    /** Writes {@code headerJson} padded to 8 bytes as the format recommends, then {@code data}. */
    static Path writeRaw(Path file, String headerJson, byte[] data) {
        byte[] json = headerJson.getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(json);
        for (int i = json.length; i < padded; i++) {
            b.put((byte) ' ');
        }
        b.put(data);
        try {
            Files.write(file, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
