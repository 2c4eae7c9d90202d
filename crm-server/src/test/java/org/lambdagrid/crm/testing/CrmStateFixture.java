package org.lambdagrid.crm.testing;

import java.nio.file.Path;
import java.util.function.Supplier;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.crm.CrmConfig;
import org.lambdagrid.crm.JdbcSiteLedger;

/**
 * A test CRM's durable state: the crm.yaml of site {@code a} ({@link #SITE_YAML}) on a state
 * dir, and the state database the test chose on it ({@link #database}; without one, the CRM's
 * default H2 file in the state dir). Register it on the test's {@code @TempDir}:
 *
 * <pre>
 *   &#64;TempDir Path dir;
 *   &#64;RegisterExtension final CrmStateFixture state = new CrmStateFixture(() -&gt; dir);
 * </pre>
 *
 * After each test it drops the database it created (PostgreSQL: the test's own database; H2:
 * nothing, the file goes with the directory). Not thread-safe; one per test instance.
 */
public final class CrmStateFixture implements AfterEachCallback {
  /** Site {@code a}: 4 nodes, range 10.10.0.0/24, a GRC address nothing listens on. */
  public static final String SITE_YAML = "site: a\nlisten: 127.0.0.1:0\ngrc: 127.0.0.1:1\n"
      + "node_capacity: 4\nranges: [10.10.0.0/24]\n";

  private final Supplier<Path> stateDir;
  private TestDatabase db;

  /** @param stateDir the test's state dir, asked for when a config is made (a {@code @TempDir}) */
  public CrmStateFixture(Supplier<Path> stateDir) {
    this.stateDir = stateDir;
  }

  /** The state dir. */
  public Path dir() {
    return stateDir.get();
  }

  /** Creates the test's state database on {@code backend} (skips the test without it). */
  public TestDatabase database(StoreBackend backend) {
    db = TestDatabase.create(backend, dir(), "crm");
    return db;
  }

  /** The database {@link #database} created, or null (the default H2 file). */
  public TestDatabase db() {
    return db;
  }

  /** {@link #SITE_YAML} on the state dir and database. */
  public CrmConfig config() {
    return config("");
  }

  /**
   * {@link #SITE_YAML} with {@code moreYaml} (top-level keys, each line ending in a newline) on
   * the state dir and database.
   */
  public CrmConfig config(String moreYaml) {
    return ConfigLoader.parse("crm.yaml", SITE_YAML + moreYaml + "state_dir: " + dir() + "\n"
        + (db == null ? "" : db.stateYaml()), CrmConfig.class);
  }

  /** The ledger of {@link #config()}, opened as a CRM opens it; the caller closes it. */
  public JdbcSiteLedger openLedger() {
    return JdbcSiteLedger.open(config());
  }

  @Override
  public void afterEach(ExtensionContext context) {
    if (db != null) {
      TestDatabase d = db;
      db = null;
      d.close();
    }
  }
}
