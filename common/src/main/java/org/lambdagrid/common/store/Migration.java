package org.lambdagrid.common.store;

import java.util.List;

/**
 * One step of a schema: applied once, in version order, inside one transaction together with
 * the row that records it. Statements are portable SQL (H2 and PostgreSQL) with one
 * placeholder, <code>${bytes}</code>, for a binary column (H2 {@code VARBINARY}, PostgreSQL
 * {@code BYTEA}). Never edit a released migration; add the next version.
 */
public record Migration(int version, String description, List<String> statements) {
  public Migration {
    if (version < 1) {
      throw new IllegalArgumentException("migration versions start at 1");
    }
    statements = List.copyOf(statements);
  }

  public static Migration of(int version, String description, String... statements) {
    return new Migration(version, description, List.of(statements));
  }
}
