package org.lambdagrid.common;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.stream.Collectors;

/**
 * The one way the daemons read configuration: a YAML file into a Java record. Unknown fields
 * are rejected; every error names the file, the field path and the problem. Records validate
 * themselves in their compact constructors by throwing {@link IllegalArgumentException} whose
 * message starts with the field name; the loader prefixes the file name.
 */
public final class ConfigLoader {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
      .findAndRegisterModules()
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS);

  private ConfigLoader() {}

  public static <T> T load(Path file, Class<T> type) {
    String text;
    try {
      text = Files.readString(file);
    } catch (NoSuchFileException e) {
      throw new ConfigException(file + ": no such file");
    } catch (IOException e) {
      throw new ConfigException(file + ": cannot read: " + e.getMessage());
    }
    return parse(file.getFileName().toString(), text, type);
  }

  /** Parses YAML text; {@code source} names it in errors. An empty document is an empty map. */
  public static <T> T parse(String source, String text, Class<T> type) {
    try {
      String doc = text.isBlank() ? "{}" : text;
      return YAML.readValue(doc, type);
    } catch (UnrecognizedPropertyException e) {
      String known = e.getKnownPropertyIds() == null ? "" : e.getKnownPropertyIds().stream()
          .map(Object::toString).sorted().collect(Collectors.joining(", "));
      throw new ConfigException(source + ": " + path(e) + ": unknown field"
          + (known.isEmpty() ? "" : " (known fields: " + known + ")"));
    } catch (JsonMappingException e) {
      Throwable cause = rootCause(e);
      String problem = cause instanceof IllegalArgumentException && cause != e
          ? cause.getMessage() : e.getOriginalMessage();
      String where = path(e);
      throw new ConfigException(source + ": " + (where.isEmpty() ? "" : where + ": ") + problem);
    } catch (JsonProcessingException e) {
      throw new ConfigException(source + ": not valid YAML: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")"));
    }
  }

  private static Throwable rootCause(Throwable t) {
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t;
  }

  /** "sites[1].ranges[0]" from Jackson's reference chain. */
  private static String path(JsonMappingException e) {
    StringBuilder sb = new StringBuilder();
    for (JsonMappingException.Reference ref : e.getPath()) {
      if (ref.getIndex() >= 0) {
        sb.append('[').append(ref.getIndex()).append(']');
      } else if (ref.getFieldName() != null) {
        if (sb.length() > 0) {
          sb.append('.');
        }
        sb.append(ref.getFieldName());
      }
    }
    return sb.toString();
  }

  /** Renders a config record as YAML, for logging the effective configuration at start-up. */
  public static String render(Object config) {
    try {
      return YAML.writeValueAsString(config);
    } catch (JsonProcessingException e) {
      return String.valueOf(config);
    }
  }
}
