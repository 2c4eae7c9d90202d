package org.lambdagrid.nsi;

import java.util.List;
import java.util.function.Consumer;

/**
 * What a requester can ask an NSI CS 2.0 provider NSA: each call returns once the provider has
 * confirmed, and throws {@link NsiException} (naming the provider and its reason) otherwise.
 * {@link NsiRequester} is the real one; tests use fakes.
 */
public interface NsiProvider {
  /** The provider's NSA id, for messages. */
  String providerNsa();

  /** reserve, then wait for reserveConfirmed; {@code onId} gets the id as soon as it is known. */
  String reserve(NsiRequester.Circuit circuit, Consumer<String> onId);

  void commit(String connectionId);

  void abort(String connectionId);

  void provision(String connectionId);

  void release(String connectionId);

  void terminate(String connectionId);

  /** querySummarySync by connection ids and/or global reservation ids. */
  List<NsiConnection> query(List<String> connectionIds, List<String> globalReservationIds);
}
