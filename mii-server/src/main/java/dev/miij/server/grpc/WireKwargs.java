package dev.miij.server.grpc;

import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.server.grpc.proto.Dictionary;
import dev.miij.server.grpc.proto.StringList;
import dev.miij.server.grpc.proto.Value;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MII's {@code query_kwargs} (a map of typed {@link Value}s) to and from {@link GenerationOptions}.
 *
 * <pre>{@code
 * GenerationOptions o = WireKwargs.parse(request.getQueryKwargsMap(), null);
 * Map<String, Value> kwargs = WireKwargs.of(GenerationOptions.builder().maxNewTokens(32).build());
 * }</pre>
 */
public final class WireKwargs {

    private static final GenerationOptions DEFAULTS = GenerationOptions.defaults();

    private WireKwargs() {
    }

    /**
     * Reads the options of a request. {@code defaultMaxLength} (the deployment's max_length, or null)
     * applies when the request does not set max_length. Bad values fail with INVALID_ARGUMENT naming the field.
     */
    public static GenerationOptions parse(Map<String, Value> kwargs, Integer defaultMaxLength) {
        Map<String, Object> plain = new LinkedHashMap<>();
        if (defaultMaxLength != null) {
            plain.put("max_length", defaultMaxLength);
        }
        for (Map.Entry<String, Value> e : kwargs.entrySet()) {
            plain.put(e.getKey(), toJava(e.getValue()));
        }
        return GenerationOptions.fromMap(plain);
    }

    /** A {@link Value} as the Java object {@link GenerationOptions#fromMap} expects; unset values are null. */
    static Object toJava(Value v) {
        return switch (v.getOneofValuesCase()) {
            case SVALUE -> v.getSvalue();
            case IVALUE -> v.getIvalue();
            case FVALUE -> exactDouble(v.getFvalue());
            case BVALUE -> v.getBvalue();
            case LVALUE -> List.copyOf(v.getLvalue().getValuesList());
            case MVALUE -> {
                Map<String, Object> m = new LinkedHashMap<>();
                for (Map.Entry<String, Value> e : v.getMvalue().getValuesMap().entrySet()) {
                    m.put(e.getKey(), toJava(e.getValue()));
                }
                yield m;
            }
            case ONEOFVALUES_NOT_SET -> null;
        };
    }

    // MII's wire type is a 32-bit float: 0.9 arrives as 0.89999997615814. Take the shortest decimal
    // that reads back as the same float, which is what the sender wrote.
    private static double exactDouble(float f) {
        return Double.parseDouble(Float.toString(f));
    }

    /**
     * The kwargs of a request with these options. Options left at their defaults are omitted, so the
     * receiving deployment's own defaults (its max_length) apply, as they would for an MII client.
     */
    public static Map<String, Value> of(GenerationOptions o) {
        Map<String, Value> m = new LinkedHashMap<>();
        if (o.maxLength() != DEFAULTS.maxLength()) {
            m.put("max_length", ival(o.maxLength()));
        }
        if (o.maxNewTokens() != null) {
            m.put("max_new_tokens", ival(o.maxNewTokens()));
        }
        if (o.minNewTokens() != 0) {
            m.put("min_new_tokens", ival(o.minNewTokens()));
        }
        if (o.ignoreEos()) {
            m.put("ignore_eos", bval(true));
        }
        if (o.doSample() != DEFAULTS.doSample()) {
            m.put("do_sample", bval(o.doSample()));
        }
        if (o.topP() != DEFAULTS.topP()) {
            m.put("top_p", fval(o.topP()));
        }
        if (o.topK() != null) {
            m.put("top_k", ival(o.topK()));
        }
        if (o.temperature() != null) {
            m.put("temperature", fval(o.temperature()));
        }
        if (o.returnFullText()) {
            m.put("return_full_text", bval(true));
        }
        if (!o.stop().isEmpty()) {
            m.put("stop", Value.newBuilder().setLvalue(StringList.newBuilder().addAllValues(o.stop())).build());
        }
        if (o.seed() != null) {
            m.put("seed", ival(o.seed()));
        }
        if (o.presencePenalty() != 0) {
            m.put("presence_penalty", fval(o.presencePenalty()));
        }
        if (o.frequencyPenalty() != 0) {
            m.put("frequency_penalty", fval(o.frequencyPenalty()));
        }
        if (o.repetitionPenalty() != 1) {
            m.put("repetition_penalty", fval(o.repetitionPenalty()));
        }
        if (o.logprobs() != null) {
            m.put("logprobs", ival(o.logprobs()));
        }
        return m;
    }

    /** A plain Java value (String, Number, Boolean, List of String, Map) as a wire {@link Value}. */
    public static Value value(Object o) {
        return switch (o) {
            case String s -> Value.newBuilder().setSvalue(s).build();
            case Boolean b -> bval(b);
            case Integer i -> ival(i);
            case Long l -> ival(l);
            case Float f -> Value.newBuilder().setFvalue(f).build();
            case Double d -> fval(d);
            case List<?> list -> {
                List<String> out = new ArrayList<>();
                for (Object e : list) {
                    if (!(e instanceof String s)) {
                        throw MiiException.invalid("only lists of strings can be sent, got an element " + e);
                    }
                    out.add(s);
                }
                yield Value.newBuilder().setLvalue(StringList.newBuilder().addAllValues(out)).build();
            }
            case Map<?, ?> map -> {
                Dictionary.Builder d = Dictionary.newBuilder();
                map.forEach((k, v) -> d.putValues(String.valueOf(k), value(v)));
                yield Value.newBuilder().setMvalue(d).build();
            }
            default -> throw MiiException.invalid("cannot send a value of type " + o.getClass().getSimpleName());
        };
    }

    private static Value ival(long v) {
        return Value.newBuilder().setIvalue(v).build();
    }

    private static Value bval(boolean v) {
        return Value.newBuilder().setBvalue(v).build();
    }

    private static Value fval(double v) {
        return Value.newBuilder().setFvalue((float) v).build();
    }
}
