package crisislake.tweets;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.time.DateTimeException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The JVM lane of the tweet parse: one line (UTF-8 bytes) holding one plain, usable Twitter API
 * v1.1 status becomes its contract row, without leaving the JVM. Every other line gets null, and
 * the Python parse ({@code records.py}, which decides every line this class declines) takes it:
 * v2 responses, Firehose batches, stream control messages, anything to quarantine, any field of an
 * unexpected type, any value whose reading the rules below do not pin down exactly.
 *
 * <p>So this class only needs to agree with {@code records.py} on the lines it accepts; it never
 * decides a quarantine reason. The rules are those of {@code records.tweet_columns} for a v1.1
 * status without includes; {@code tests/test_tweets_jvm_parse.py} checks both give the same rows
 * on a corpus of real-shaped, edge and mutated lines.
 *
 * <p>Registered with {@code spark.udf.registerJavaFunction} by {@code crisislake.tweets.jvm}, which
 * also compiles it (the build never commits jars). Jackson's streaming parser reads only the
 * fields below and skips the rest of a status (most of its bytes) without building it.
 */
public final class V1StatusParser implements UDF1<byte[], Row> {
    private static final long serialVersionUID = 1L;

    /** Return type, in field order of {@link #row}; the Python side builds the same DDL. */
    public static final String RETURN_DDL = "struct<tweet_id:bigint,created_us:bigint,text:string,lang:string,"
            + "author_id:bigint,author_handle:string,retweet_of_id:bigint,quote_of_id:bigint,reply_to_id:bigint,"
            + "hashtags:array<string>,urls:array<string>,mentions:array<string>,place_country:string,"
            + "place_name:string,lat:double,lon:double>";

    // Deeper than any status; past it Jackson fails and the line goes to Python, whose parsers
    // have their own limits.
    private static final int MAX_DEPTH = 64;
    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
            .build();

    private static final Pattern TWITTER_DATE = Pattern.compile(
            "[A-Za-z]{3} ([A-Za-z]{3}) ([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2}) ([0-9]{4})");
    private static final String MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";
    private static final String[][] ENTITIES = {
        {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"},
    };
    private static final String[] CONTROL_FIELDS = {
        "delete", "limit", "scrub_geo", "status_withheld", "user_withheld", "disconnect", "warning",
    };

    /** The line is not one this lane decides. Thrown without a stack trace: it is not an error. */
    private static final class Decline extends Exception {
        private static final long serialVersionUID = 1L;
        static final Decline INSTANCE = new Decline();

        private Decline() {
            super("declined", null, false, false);
        }
    }

    private static final Decline DECLINE = Decline.INSTANCE;

    @Override
    public Row call(byte[] line) {
        // A first byte other than '{' (blank line, BOM, leading space, not an object) and a NUL
        // second byte (Jackson would take the bytes for UTF-16/32) are Python's to decide.
        if (line == null || line.length < 2 || line[0] != '{' || line[1] == 0) {
            return null;
        }
        try (JsonParser p = JSON.createParser(line)) {
            p.nextToken();
            Status status = new Status();
            status.read(p);
            if (p.nextToken() != null) {
                return null; // more after the object: a Firehose batch, or junk
            }
            return status.row();
        } catch (Decline | IOException | RuntimeException e) {
            return null; // not decided here (malformed, unexpected type, edge value): Python decides
        }
    }

    // ---- reading values -------------------------------------------------------------------

    /** A value read as text: strings as they are, non-negative integers by their digits, booleans. */
    static String text(JsonParser p) throws IOException, Decline {
        switch (p.currentToken()) {
            case VALUE_STRING:
                return p.getText();
            case VALUE_NULL:
                return null;
            case VALUE_TRUE:
                return "true";
            case VALUE_FALSE:
                return "false";
            case VALUE_NUMBER_INT:
                String digits = p.getText();
                if (digits.charAt(0) == '-') {
                    throw DECLINE; // "-0" would read as "0" in Python
                }
                return digits;
            default:
                throw DECLINE; // a float, object or array read as text: Python's json.dumps form
        }
    }

    /** True at the start of an object, false at null; any other value is a type mismatch. */
    static boolean object(JsonParser p) throws Decline {
        JsonToken t = p.currentToken();
        if (t == JsonToken.START_OBJECT) {
            return true;
        }
        if (t == JsonToken.VALUE_NULL) {
            return false;
        }
        throw DECLINE;
    }

    /** Declines unless the value is null. */
    static void requireNull(JsonParser p) throws Decline {
        if (p.currentToken() != JsonToken.VALUE_NULL) {
            throw DECLINE;
        }
    }

    /** Takes a field of an object: true when it read the value, false to have it skipped. */
    @FunctionalInterface
    interface Field {
        boolean take(String name, JsonParser p) throws IOException, Decline;
    }

    /**
     * Reads the object at the parser's position field by field: {@code field} takes the fields
     * it knows and the rest are skipped unbuilt. False at JSON null; any other value that is not
     * an object declines (a type mismatch), and so does a field taken twice (which value wins
     * would depend on the parser).
     */
    static boolean fields(JsonParser p, Field field) throws IOException, Decline {
        if (!object(p)) {
            return false;
        }
        String[] taken = new String[8];
        int n = 0;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            p.nextToken();
            if (!field.take(name, p)) {
                p.skipChildren();
                continue;
            }
            for (int i = 0; i < n; i++) {
                if (taken[i].equals(name)) {
                    throw DECLINE;
                }
            }
            if (n == taken.length) {
                taken = Arrays.copyOf(taken, 2 * n);
            }
            taken[n++] = name;
        }
        return true;
    }

    static String first(String a, String b) {
        return a != null ? a : b;
    }

    static String first(String a, String b, String c) {
        return a != null ? a : b != null ? b : c;
    }

    /** A decimal id -> long; null stays null; anything else (signs, spaces, > 2^63-1) declines. */
    static Long id(String value) throws Decline {
        if (value == null) {
            return null;
        }
        int n = value.length();
        if (n == 0 || n > 19) {
            throw DECLINE;
        }
        for (int i = 0; i < n; i++) {
            char c = value.charAt(i);
            if (c < '0' || c > '9') {
                throw DECLINE;
            }
        }
        if (n == 19 && value.compareTo("9223372036854775807") > 0) {
            throw DECLINE;
        }
        return Long.parseLong(value);
    }

    /** Twitter's {@code Wed Oct 10 20:19:24 +0000 2018} -> microseconds since the epoch (UTC). */
    static long createdMicros(String value) throws Decline {
        Matcher m = TWITTER_DATE.matcher(value);
        if (!m.matches()) {
            throw DECLINE; // ISO dates, padded values, junk: Python's
        }
        int month = MONTHS.indexOf(m.group(1));
        int hours = Integer.parseInt(m.group(7));
        int minutes = Integer.parseInt(m.group(8));
        int year = Integer.parseInt(m.group(9));
        if (month < 0 || month % 3 != 0 || minutes > 59 || hours * 60 + minutes > 18 * 60 || year < 1) {
            throw DECLINE;
        }
        try {
            LocalDateTime local = LocalDateTime.of(year, month / 3 + 1, Integer.parseInt(m.group(2)),
                    Integer.parseInt(m.group(3)), Integer.parseInt(m.group(4)), Integer.parseInt(m.group(5)));
            int offset = (hours * 3600 + minutes * 60) * ("-".equals(m.group(6)) ? -1 : 1);
            return (local.toEpochSecond(ZoneOffset.UTC) - offset) * 1_000_000L;
        } catch (DateTimeException e) {
            throw DECLINE;
        }
    }

    static String unescape(String value) {
        if (value.indexOf('&') < 0) {
            return value;
        }
        for (String[] entity : ENTITIES) {
            value = value.replace(entity[0], entity[1]);
        }
        return value;
    }

    static boolean blank(String value) {
        for (int i = 0; i < value.length(); i++) {
            if (value.charAt(i) != ' ') {
                return false;
            }
        }
        return true;
    }

    /** An array of objects, each read to the first non-null of {@code keys} (as text). */
    static List<String> strings(JsonParser p, String... keys) throws IOException, Decline {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_NULL) {
            return null;
        }
        if (t != JsonToken.START_ARRAY) {
            throw DECLINE;
        }
        List<String> out = new ArrayList<>();
        String[] values = new String[keys.length];
        Field value = (name, q) -> {
            int k = indexOf(keys, name);
            if (k < 0) {
                return false;
            }
            values[k] = text(q);
            return true;
        };
        while (p.nextToken() != JsonToken.END_ARRAY) {
            Arrays.fill(values, null);
            if (!fields(p, value)) {
                out.add(null);
                continue;
            }
            String picked = null;
            for (String v : values) {
                if (v != null) {
                    picked = v;
                    break;
                }
            }
            out.add(picked);
        }
        return out;
    }

    static int indexOf(String[] keys, String name) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }

    /** Skips an object's fields, declining when it has a field named {@code forbidden}. */
    static void skipObjectWithout(JsonParser p, String forbidden) throws IOException, Decline {
        fields(p, (name, q) -> {
            if (forbidden.equals(name)) {
                throw DECLINE;
            }
            return false;
        });
    }

    // ---- the parts of a status ------------------------------------------------------------

    /** {@code entities}: hashtags, urls, user_mentions, and v2's mentions. */
    static final class Entities {
        List<String> hashtags;
        List<String> urls;
        List<String> userMentions;
        List<String> mentions;

        static Entities read(JsonParser p) throws IOException, Decline {
            Entities e = new Entities();
            return fields(p, e::take) ? e : null;
        }

        private boolean take(String name, JsonParser p) throws IOException, Decline {
            switch (name) {
                case "hashtags":
                    hashtags = strings(p, "text", "tag");
                    return true;
                case "urls":
                    urls = strings(p, "unwound_url", "expanded_url", "url");
                    return true;
                case "user_mentions":
                    userMentions = strings(p, "screen_name");
                    return true;
                case "mentions":
                    mentions = strings(p, "username");
                    return true;
                default:
                    return false;
            }
        }
    }

    /** {@code user}: id_str, id, screen_name. */
    static final class User {
        String idStr;
        String id;
        String screenName;

        static User read(JsonParser p) throws IOException, Decline {
            User u = new User();
            return fields(p, u::take) ? u : null;
        }

        private boolean take(String name, JsonParser p) throws IOException, Decline {
            switch (name) {
                case "id_str":
                    idStr = text(p);
                    return true;
                case "id":
                    id = text(p);
                    return true;
                case "screen_name":
                    screenName = text(p);
                    return true;
                default:
                    return false;
            }
        }
    }

    /** {@code extended_tweet}: full_text, entities. */
    static final class Extended {
        String fullText;
        Entities entities;

        static Extended read(JsonParser p) throws IOException, Decline {
            Extended x = new Extended();
            return fields(p, x::take) ? x : null;
        }

        private boolean take(String name, JsonParser p) throws IOException, Decline {
            switch (name) {
                case "full_text":
                    fullText = text(p);
                    return true;
                case "entities":
                    entities = Entities.read(p);
                    return true;
                default:
                    return false;
            }
        }
    }

    /** The fields a status and its retweeted status share: text, full text, entities, user. */
    static class Tweet {
        String idStr;
        String id;
        String text;
        String fullText;
        Extended extended;
        Entities entities;
        User user;

        /** Reads the field {@code name} if it is a shared one; false when it is not. */
        boolean takeShared(String name, JsonParser p) throws IOException, Decline {
            switch (name) {
                case "id_str":
                    idStr = text(p);
                    return true;
                case "id":
                    id = text(p);
                    return true;
                case "text":
                    text = text(p);
                    return true;
                case "full_text":
                    fullText = text(p);
                    return true;
                case "extended_tweet":
                    extended = Extended.read(p);
                    return true;
                case "entities":
                    entities = Entities.read(p);
                    return true;
                case "user":
                    user = User.read(p);
                    return true;
                case "note_tweet": // v2 long-post text: Python's
                case "author_id": // a v2 author, looked up in includes: Python's
                    requireNull(p);
                    return true;
                default:
                    return false;
            }
        }

        /** {@code records._full_text}: extended full text, else full_text, else text. */
        String fullText() {
            return first(extended == null ? null : extended.fullText, fullText, text);
        }

        /** {@code records._full_entities}. */
        Entities fullEntities() {
            Entities fromExtended = extended == null ? null : extended.entities;
            return fromExtended != null ? fromExtended : entities;
        }

        String userField(boolean handle) {
            if (user == null) {
                return null;
            }
            return handle ? user.screenName : first(user.idStr, user.id);
        }
    }

    /** {@code retweeted_status}; {@code any} tells whether it named any field read (Python's
     * truth test of the decoded object). */
    static final class Retweeted extends Tweet {
        boolean any;

        static Retweeted read(JsonParser p) throws IOException, Decline {
            Retweeted rt = new Retweeted();
            return fields(p, rt::take) ? rt : null;
        }

        private boolean take(String name, JsonParser p) throws IOException, Decline {
            boolean took = takeShared(name, p);
            any |= took;
            return took;
        }
    }

    /** A top-level v1.1 status. */
    static final class Status extends Tweet {
        String createdAt;
        String lang;
        String replyToStr;
        String replyTo;
        String quotedIdStr;
        String quotedId;
        String quotedStatusIdStr;
        Retweeted retweeted;
        String placeCountryCode;
        String placeCountry;
        String placeFullName;
        String placeName;
        List<Double> point;

        void read(JsonParser p) throws IOException, Decline {
            if (!fields(p, this::take)) {
                throw DECLINE; // the JSON null: Python's
            }
        }

        private boolean take(String name, JsonParser p) throws IOException, Decline {
            if (takeShared(name, p)) {
                return true;
            }
            switch (name) {
                case "created_at":
                    createdAt = text(p);
                    return true;
                case "lang":
                    lang = text(p);
                    return true;
                case "in_reply_to_status_id_str":
                    replyToStr = text(p);
                    return true;
                case "in_reply_to_status_id":
                    replyTo = text(p);
                    return true;
                case "quoted_status_id_str":
                    quotedStatusIdStr = text(p);
                    return true;
                case "retweeted_status":
                    retweeted = Retweeted.read(p);
                    return true;
                case "quoted_status":
                    fields(p, this::takeQuoted);
                    return true;
                case "place":
                    fields(p, this::takePlace);
                    return true;
                case "coordinates":
                    fields(p, this::takeCoordinates);
                    return true;
                case "geo":
                    // v1.1's [lat, lon] point is not read; an object naming place_id is v2's
                    // geo, which Python resolves against includes.
                    if (p.currentToken() == JsonToken.START_OBJECT) {
                        skipObjectWithout(p, "place_id");
                    } else {
                        p.skipChildren();
                    }
                    return true;
                case "referenced_tweets": // v2
                case "data": // a v2 response
                case "includes":
                case "_format": // a CSV row
                    requireNull(p);
                    return true;
                default:
                    if (indexOf(CONTROL_FIELDS, name) >= 0) {
                        requireNull(p); // a stream control message: Python's to quarantine
                        return true;
                    }
                    return false; // "errors" among them: read as text and never used for a status
            }
        }

        private boolean takeQuoted(String name, JsonParser p) throws IOException, Decline {
            switch (name) {
                case "id_str":
                    quotedIdStr = text(p);
                    return true;
                case "id":
                    quotedId = text(p);
                    return true;
                default:
                    return false;
            }
        }

        private boolean takePlace(String name, JsonParser p) throws IOException, Decline {
            switch (name) {
                case "country_code":
                    placeCountryCode = text(p);
                    return true;
                case "country":
                    placeCountry = text(p);
                    return true;
                case "full_name":
                    placeFullName = text(p);
                    return true;
                case "name":
                    placeName = text(p);
                    return true;
                default:
                    return false; // "id" too: only v2 looks places up by id
            }
        }

        private boolean takeCoordinates(String name, JsonParser p) throws IOException, Decline {
            if (!name.equals("coordinates")) {
                return false;
            }
            JsonToken t = p.currentToken();
            if (t == JsonToken.VALUE_NULL) {
                point = null;
                return true;
            }
            if (t != JsonToken.START_ARRAY) {
                throw DECLINE;
            }
            point = new ArrayList<>(2);
            while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                point.add(number(p, t));
            }
            return true;
        }

        private static Double number(JsonParser p, JsonToken t) throws IOException, Decline {
            if (t == JsonToken.VALUE_NULL) {
                return null;
            }
            double value;
            if (t == JsonToken.VALUE_NUMBER_INT) {
                if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    throw DECLINE;
                }
                value = (double) p.getLongValue();
            } else if (t == JsonToken.VALUE_NUMBER_FLOAT) {
                value = p.getDoubleValue();
            } else {
                throw DECLINE; // not a number (a bool or string in coordinates): quarantined by Python
            }
            if (Double.isNaN(value) || Double.isInfinite(value)) {
                throw DECLINE;
            }
            return value;
        }

        /** The contract row ({@code records.tweet_columns} for a v1.1 status), or a decline when
         * Python would quarantine the status. */
        Row row() throws Decline {
            Retweeted rt = retweeted != null && retweeted.any ? retweeted : null;
            String rtHandle = null;
            String rtText = null;
            Entities ent = null;
            if (rt != null) {
                rtHandle = rt.userField(true);
                rtText = rt.fullText();
                ent = rt.fullEntities();
            }
            if (ent == null) {
                ent = fullEntities();
            }
            String body = rtText != null && rtHandle != null ? "RT @" + rtHandle + ": " + rtText : fullText();
            String rawId = first(idStr, id);
            if (rawId == null || blank(rawId) || body == null) {
                throw DECLINE; // missing id or text: a quarantine reason
            }
            Long tweetId = id(rawId);
            body = unescape(body);
            if (blank(body) || createdAt == null) {
                throw DECLINE;
            }
            long created = createdMicros(createdAt);
            List<String> mentions = null;
            List<String> hashtags = null;
            List<String> urls = null;
            if (ent != null) {
                mentions = ent.userMentions != null ? ent.userMentions : ent.mentions;
                hashtags = ent.hashtags;
                urls = ent.urls;
            }
            if (mentions == null) {
                mentions = new ArrayList<>(1);
            }
            if (rtHandle != null) {
                mentions.add(0, rtHandle);
            }
            Double lat = null;
            Double lon = null;
            if (point != null && point.size() == 2) {
                lat = point.get(1);
                lon = point.get(0);
            }
            return RowFactory.create(
                    tweetId,
                    created,
                    body,
                    lang,
                    id(userField(false)),
                    userField(true),
                    rt == null ? null : id(first(rt.idStr, rt.id)),
                    id(first(quotedStatusIdStr, quotedIdStr, quotedId)),
                    id(first(replyToStr, replyTo)),
                    hashtags == null ? new ArrayList<String>(0) : hashtags,
                    urls == null ? new ArrayList<String>(0) : urls,
                    mentions,
                    first(placeCountryCode, placeCountry),
                    first(placeFullName, placeName),
                    lat,
                    lon);
        }
    }
}
