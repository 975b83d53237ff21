package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The post-processors of tokenizer.json: they wrap an encoded sequence in the special tokens the
 * model expects (BOS, [CLS] ... [SEP]) when special tokens are requested.
 */
final class PostProcessors {

    /** Adds special tokens around one encoded sequence. */
    interface PostProcessor {
        /** How many tokens {@link #process} adds to a single sequence when asked to. */
        int addedTokens();

        TokenSeq process(TokenSeq seq, boolean addSpecialTokens);
    }

    static final String SUPPORTED = "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence";

    private static final String COMPONENT = "post_processor";

    private PostProcessors() {}

    static PostProcessor fromJson(JsonNode node, JsonCtx ctx) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = ctx.type(node, COMPONENT);
        return switch (type) {
            case "TemplateProcessing" -> template(node, ctx);
            case "BertProcessing", "RobertaProcessing" -> {
                String component = type + " post_processor";
                TokenSeq cls = idPair(node, "cls", ctx, component);
                TokenSeq sep = idPair(node, "sep", ctx, component);
                yield wrap(cls, sep);
            }
            case "ByteLevel" -> new PostProcessor() {
                // Only trims offsets upstream; ids are left alone.
                @Override
                public int addedTokens() {
                    return 0;
                }

                @Override
                public TokenSeq process(TokenSeq seq, boolean addSpecialTokens) {
                    return seq;
                }
            };
            case "Sequence" -> {
                JsonNode list = node.get("processors");
                if (list == null || !list.isArray()) {
                    throw ctx.corrupt("Sequence post_processor", "\"processors\" must be a list");
                }
                List<PostProcessor> parts = new ArrayList<>();
                for (JsonNode child : list) {
                    PostProcessor p = fromJson(child, ctx);
                    if (p != null) {
                        parts.add(p);
                    }
                }
                yield sequence(parts);
            }
            default -> throw ctx.unsupported(COMPONENT, type, SUPPORTED);
        };
    }

    private static PostProcessor sequence(List<PostProcessor> parts) {
        return new PostProcessor() {
            @Override
            public int addedTokens() {
                int n = 0;
                for (PostProcessor p : parts) {
                    n += p.addedTokens();
                }
                return n;
            }

            @Override
            public TokenSeq process(TokenSeq seq, boolean addSpecialTokens) {
                for (PostProcessor p : parts) {
                    seq = p.process(seq, addSpecialTokens);
                }
                return seq;
            }
        };
    }

    /** A ["token", id] pair of Bert/RobertaProcessing. */
    private static TokenSeq idPair(JsonNode node, String field, JsonCtx ctx, String component) {
        JsonNode pair = node.get(field);
        if (pair == null || !pair.isArray() || pair.size() != 2 || !pair.get(1).canConvertToInt()) {
            throw ctx.corrupt(component, "\"" + field + "\" must be [\"token\", id], found " + JsonCtx.describe(pair));
        }
        TokenSeq seq = new TokenSeq(1);
        seq.add(pair.get(1).asInt(), pair.get(0).asText());
        return seq;
    }

    private static PostProcessor wrap(TokenSeq before, TokenSeq after) {
        return new PostProcessor() {
            @Override
            public int addedTokens() {
                return before.size() + after.size();
            }

            @Override
            public TokenSeq process(TokenSeq seq, boolean addSpecialTokens) {
                if (!addSpecialTokens) {
                    return seq;
                }
                TokenSeq out = new TokenSeq(seq.size() + addedTokens());
                out.addAll(before);
                out.addAll(seq);
                out.addAll(after);
                return out;
            }
        };
    }

    /** TemplateProcessing, for a single sequence: its "single" template around sequence A. */
    private static PostProcessor template(JsonNode node, JsonCtx ctx) {
        String component = "TemplateProcessing post_processor";
        Map<String, TokenSeq> specials = new HashMap<>();
        JsonNode specialNode = node.get("special_tokens");
        if (specialNode != null && specialNode.isObject()) {
            for (var it = specialNode.fields(); it.hasNext(); ) {
                var e = it.next();
                JsonNode ids = e.getValue().get("ids");
                JsonNode tokens = e.getValue().get("tokens");
                if (ids == null || tokens == null || !ids.isArray() || !tokens.isArray() || ids.size() != tokens.size()) {
                    throw ctx.corrupt(component, "special token \"" + e.getKey() + "\" needs \"ids\" and \"tokens\""
                            + " lists of equal length");
                }
                TokenSeq seq = new TokenSeq(ids.size());
                for (int i = 0; i < ids.size(); i++) {
                    seq.add(ids.get(i).asInt(), tokens.get(i).asText());
                }
                specials.put(e.getKey(), seq);
            }
        }
        JsonNode single = node.get("single");
        if (single == null || !single.isArray()) {
            throw ctx.corrupt(component, "\"single\" must be a list");
        }
        TokenSeq before = new TokenSeq(2);
        TokenSeq after = new TokenSeq(2);
        boolean seenSequence = false;
        for (JsonNode piece : single) {
            if (piece.has("Sequence")) {
                String id = piece.get("Sequence").path("id").asText("A");
                if (!id.equals("A")) {
                    throw ctx.corrupt(component, "the single template may only refer to sequence A, not " + id);
                }
                seenSequence = true;
            } else if (piece.has("SpecialToken")) {
                String id = piece.get("SpecialToken").path("id").asText();
                TokenSeq special = specials.get(id);
                if (special == null) {
                    throw ctx.corrupt(component, "template uses special token \"" + id
                            + "\" missing from \"special_tokens\"");
                }
                (seenSequence ? after : before).addAll(special);
            } else {
                throw ctx.corrupt(component, "template piece must be a Sequence or a SpecialToken, found "
                        + JsonCtx.describe(piece));
            }
        }
        return wrap(before, after);
    }
}
