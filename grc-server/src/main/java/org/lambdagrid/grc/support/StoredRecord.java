package org.lambdagrid.grc.support;

import java.time.Instant;

/** What the GRC's stores index a job or reservation record by. */
public interface StoredRecord {
  String id();

  Instant createdAt();

  /** The user it belongs to. */
  String user();

  /** The client token its request carried ("" if none): a retried request finds it again. */
  String clientToken();
}
