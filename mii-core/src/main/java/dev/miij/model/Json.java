package dev.miij.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.MiiException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** JSON reading for this package, with errors phrased for users. */
final class Json {

    /** For config files: like Python's json module, a repeated key keeps its last value. */
    static final ObjectMapper MAPPER = new ObjectMapper();

    /** For safetensors headers, where two entries for one tensor would make the checkpoint ambiguous. */
    static final ObjectMapper STRICT = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private Json() {}

    /** Parses {@code file} as a JSON object; a missing file is NOT_FOUND, anything else unreadable is CORRUPT. */
    static JsonNode readObject(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw MiiException.notFound(file + " does not exist");
        } catch (IOException e) {
            throw MiiException.io("cannot read " + file + ": " + e.getMessage(), e);
        }
        return parseObject(MAPPER, bytes, file.toString());
    }

    /** Parses {@code bytes} as a JSON object; {@code what} names the source in error messages. */
    static JsonNode parseObject(ObjectMapper mapper, byte[] bytes, String what) {
        JsonNode node;
        try {
            node = mapper.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw MiiException.corrupt(what + " is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw MiiException.corrupt(what + " is not valid JSON: " + e.getMessage(), e);
        }
        if (node == null || !node.isObject()) {
            throw MiiException.corrupt(what + " must hold a JSON object, found " + (node == null ? "nothing" : node.getNodeType()));
        }
        return node;
    }
}
