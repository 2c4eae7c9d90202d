package org.lambdagrid.common.testing;

/**
 * The databases a daemon's state store runs on; store tests take one as their parameter
 * ({@code @ParameterizedTest @EnumSource(StoreBackend.class)}) and get their database from
 * {@link TestDatabase#create}, so one test body runs on both.
 */
public enum StoreBackend {
  /** Embedded H2, the daemons' default: a file in the state directory. */
  H2,
  /** A real PostgreSQL server: the one scripts/postgres-local runs (skipped without it). */
  POSTGRESQL
}
