package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/** A model vocabulary: token strings to ids and back. */
final class Vocab {

    private final HashMap<String, Integer> ids;
    private final String[] tokens;

    private Vocab(HashMap<String, Integer> ids, String[] tokens) {
        this.ids = ids;
        this.tokens = tokens;
    }

    /** Reads a {"token": id, ...} object. */
    static Vocab fromObject(JsonNode node, JsonCtx ctx, String component) {
        if (node == null || !node.isObject()) {
            throw ctx.corrupt(component, "\"vocab\" must be an object of token to id");
        }
        HashMap<String, Integer> ids = HashMap.newHashMap(node.size());
        int max = -1;
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (!v.canConvertToInt() || v.asInt() < 0) {
                throw ctx.corrupt(component, "id of vocabulary entry \"" + e.getKey() + "\" must be a non-negative"
                        + " integer, found " + JsonCtx.describe(v));
            }
            ids.put(e.getKey(), v.asInt());
            max = Math.max(max, v.asInt());
        }
        String[] tokens = new String[max + 1];
        for (Map.Entry<String, Integer> e : ids.entrySet()) {
            tokens[e.getValue()] = e.getKey();
        }
        return new Vocab(ids, tokens);
    }

    /** Builds a vocabulary whose ids are the positions in {@code list}. */
    static Vocab fromList(String[] list) {
        HashMap<String, Integer> ids = HashMap.newHashMap(list.length);
        for (int i = 0; i < list.length; i++) {
            ids.put(list[i], i);
        }
        return new Vocab(ids, list.clone());
    }

    int get(String token) {
        Integer id = ids.get(token);
        return id == null ? -1 : id;
    }

    String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    int idBound() {
        return tokens.length;
    }
}
