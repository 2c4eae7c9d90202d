package org.lambdagrid.nsi;

import jakarta.xml.ws.Holder;
import jakarta.xml.ws.WebServiceException;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.GregorianCalendar;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TimeZone;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import javax.net.ssl.KeyManager;
import javax.net.ssl.TrustManager;
import javax.xml.datatype.DatatypeConfigurationException;
import javax.xml.datatype.DatatypeFactory;
import javax.xml.datatype.XMLGregorianCalendar;
import org.apache.cxf.Bus;
import org.apache.cxf.BusFactory;
import org.apache.cxf.configuration.jsse.TLSClientParameters;
import org.apache.cxf.configuration.jsse.TLSServerParameters;
import org.apache.cxf.configuration.security.ClientAuthentication;
import org.apache.cxf.endpoint.Client;
import org.apache.cxf.endpoint.Server;
import org.apache.cxf.frontend.ClientProxy;
import org.apache.cxf.jaxws.JaxWsProxyFactoryBean;
import org.apache.cxf.jaxws.JaxWsServerFactoryBean;
import org.apache.cxf.transport.http.HTTPConduit;
import org.apache.cxf.transport.http_jetty.JettyHTTPServerEngineFactory;
import org.apache.cxf.transports.http.configuration.HTTPClientPolicy;
import org.ogf.schemas.nsi._2013._12.connection._interface.Error;
import org.ogf.schemas.nsi._2013._12.connection._interface.ServiceException;
import org.ogf.schemas.nsi._2013._12.connection.provider.ConnectionProviderPort;
import org.ogf.schemas.nsi._2013._12.connection.requester.ConnectionRequesterPort;
import org.ogf.schemas.nsi._2013._12.connection.types.ConnectionStatesType;
import org.ogf.schemas.nsi._2013._12.connection.types.QuerySummaryConfirmedType;
import org.ogf.schemas.nsi._2013._12.connection.types.QuerySummaryResultType;
import org.ogf.schemas.nsi._2013._12.connection.types.QueryType;
import org.ogf.schemas.nsi._2013._12.connection.types.ReservationRequestCriteriaType;
import org.ogf.schemas.nsi._2013._12.connection.types.ScheduleType;
import org.ogf.schemas.nsi._2013._12.framework.headers.CommonHeaderType;
import org.ogf.schemas.nsi._2013._12.framework.types.ServiceExceptionType;
import org.ogf.schemas.nsi._2013._12.services.point2point.P2PServiceBaseType;
import org.ogf.schemas.nsi._2013._12.services.types.DirectionalityType;

/**
 * An NSI Connection Service 2.0 requester agent: it sends the provider's requests over SOAP/TLS
 * (Apache CXF over classes generated from the OGF WSDLs) and serves the requester endpoint the
 * provider answers on. Each request is one blocking call that returns once the provider's
 * asynchronous confirmation arrived, and throws {@link NsiException} (naming the provider, the
 * request and the provider's own reason) when it failed, was refused or was not confirmed within
 * the reply timeout. Thread-safe; {@link #close} stops the endpoint.
 */
public final class NsiRequester implements NsiProvider, AutoCloseable {
  private static final org.slf4j.Logger log =
      org.slf4j.LoggerFactory.getLogger(NsiRequester.class);
  /** The service type of an Ethernet VLAN transfer service, as NSI networks advertise it. */
  public static final String EVTS = "http://services.ogf.org/nsi/2013/12/descriptions/EVTS.A-GOLE";
  private static final String PROTOCOL = "application/vnd.ogf.nsi.cs.v2.provider+soap";

  /**
   * @param providerUrl the provider NSA's CS 2.0 SOAP endpoint (https)
   * @param providerNsa the provider's NSA id (urn:ogf:network:...:nsa...)
   * @param requesterNsa this requester's NSA id, as the provider knows it
   * @param replyTo the https URL of this requester's endpoint (host:port are bound here)
   * @param providerIdentity the DNS names and IP addresses the provider's certificate may carry
   *     (one of), both on its callbacks and when dialing it; empty: the provider URL's host
   */
  public record Config(URI providerUrl, String providerNsa, String requesterNsa, URI replyTo,
      NsiTls tls, Duration replyTimeout, List<String> providerIdentity) {
    public Config {
      Objects.requireNonNull(providerUrl, "providerUrl");
      Objects.requireNonNull(replyTo, "replyTo");
      Objects.requireNonNull(tls, "tls");
      if (providerUrl.getHost() == null) {
        throw new NsiException("nsi.provider_url: '" + providerUrl + "' has no host");
      }
      providerIdentity = providerIdentity == null ? List.of() : List.copyOf(providerIdentity);
    }

    /** The provider's certificate must name the provider URL's host. */
    public Config(URI providerUrl, String providerNsa, String requesterNsa, URI replyTo,
        NsiTls tls, Duration replyTimeout) {
      this(providerUrl, providerNsa, requesterNsa, replyTo, tls, replyTimeout, List.of());
    }

    /** What the provider's certificate must name (one of), and where that is configured. */
    List<String> identity() {
      return providerIdentity.isEmpty() ? List.of(providerUrl.getHost()) : providerIdentity;
    }

    String identitySource() {
      return providerIdentity.isEmpty() ? "the host of nsi.provider_url"
          : "nsi.provider_identity";
    }
  }

  /**
   * One point-to-point circuit to reserve: capacity in Mbit/s, [start, end) in UTC; a null start
   * means now (providers refuse a start time in the past).
   */
  public record Circuit(String sourceStp, String destStp, long capacityMbps, Instant start,
      Instant end, String globalReservationId, String description) {}

  private final Config config;
  private final NsiEvents events;
  private final Bus bus;
  private final Server server;
  private final ConnectionProviderPort provider;
  private final Replies pending = new Replies();

  private NsiRequester(Config config, NsiEvents events) {
    this.config = config;
    this.events = events;
    this.bus = BusFactory.newInstance().createBus();
    Server s = null;
    try {
      checkReplyTo(config.replyTo());
      checkIdentity(config);
      NsiTls.Material tls = config.tls().read(); // once, for the endpoint and the client
      s = serve(tls);
      this.server = s;
      this.provider = dial(tls);
    } catch (RuntimeException e) {
      if (s != null) {
        s.destroy();
      }
      bus.shutdown(true);
      throw e;
    }
  }

  /** Starts the requester endpoint on {@code config.replyTo()}; fails when it cannot bind. */
  public static NsiRequester start(Config config, NsiEvents events) {
    return new NsiRequester(config, events == null ? NsiEvents.NONE : events);
  }

  @Override
  public String providerNsa() {
    return config.providerNsa();
  }

  /**
   * Reserves the circuit and waits for reserveConfirmed (then the connection is ReserveHeld
   * until {@link #commit} or {@link #abort}, or the provider's hold timeout). {@code onId} gets
   * the provider's connection id as soon as the provider has acknowledged the request, before
   * the confirmation, so the caller can record it for undo.
   *
   * @throws NsiException the provider refused (reserveFailed, a SOAP fault: its reason is in the
   *     message), or did not answer within the reply timeout; when a connection id was handed
   *     to {@code onId} the connection may still exist on the provider and is the caller's to abort
   */
  @Override
  public String reserve(Circuit c, Consumer<String> onId) {
    String what = "reserve " + c.sourceStp() + " -> " + c.destStp() + " (" + c.capacityMbps()
        + " Mbit/s)";
    var types = new org.ogf.schemas.nsi._2013._12.connection.types.ObjectFactory();
    ScheduleType schedule = types.createScheduleType();
    if (c.start() != null) {
      schedule.setStartTime(types.createScheduleTypeStartTime(xml(c.start())));
    }
    schedule.setEndTime(types.createScheduleTypeEndTime(xml(c.end())));
    P2PServiceBaseType p2p = new P2PServiceBaseType();
    p2p.setCapacity(c.capacityMbps());
    p2p.setDirectionality(DirectionalityType.BIDIRECTIONAL);
    p2p.setSymmetricPath(true);
    p2p.setSourceSTP(c.sourceStp());
    p2p.setDestSTP(c.destStp());
    ReservationRequestCriteriaType criteria = new ReservationRequestCriteriaType();
    criteria.setSchedule(schedule);
    criteria.setServiceType(EVTS);
    criteria.setVersion(1);
    criteria.getAny().add(
        new org.ogf.schemas.nsi._2013._12.services.point2point.ObjectFactory().createP2Ps(p2p));
    String correlation = correlationId();
    CompletableFuture<Replies.Reply> reply = pending.expect(correlation,
        Set.of("reserveConfirmed", "reserveFailed"), null);
    Holder<String> id = new Holder<>();
    try {
      provider.reserve(id, c.globalReservationId(), c.description(), criteria,
          header(correlation));
    } catch (ServiceException e) {
      pending.remove(correlation);
      throw refused(what, e.getFaultInfo(), e.getMessage());
    } catch (WebServiceException e) {
      pending.remove(correlation);
      throw unreachable(what, e);
    }
    if (id.value == null || id.value.isBlank()) {
      pending.remove(correlation);
      throw new NsiException("NSI provider " + config.providerNsa() + ": " + what
          + ": the acknowledgment carries no connectionId");
    }
    pending.knownAs(correlation, id.value);
    if (onId != null) {
      onId.accept(id.value);
    }
    Replies.Reply r = await(what + " (connection " + id.value + ")", correlation, reply);
    if (r.connectionId() != null && !r.connectionId().equals(id.value)) {
      // came before the acknowledgment, for another connection
      throw new NsiException("NSI provider " + config.providerNsa() + ": " + what
          + ": the confirmation names connection " + r.connectionId() + ", not " + id.value);
    }
    return id.value;
  }

  /** reserveCommit: the held reservation becomes ReserveStart (kept until terminated). */
  @Override
  public void commit(String connectionId) {
    simple("reserveCommit", Set.of("reserveCommitConfirmed", "reserveCommitFailed"), connectionId, (p, h) -> p.reserveCommit(connectionId, h));
  }

  /** reserveAbort: the held reservation is dropped. */
  @Override
  public void abort(String connectionId) {
    simple("reserveAbort", Set.of("reserveAbortConfirmed"), connectionId, (p, h) -> p.reserveAbort(connectionId, h));
  }

  /** provision: the data plane is to be up during the schedule. */
  @Override
  public void provision(String connectionId) {
    simple("provision", Set.of("provisionConfirmed"), connectionId, (p, h) -> p.provision(connectionId, h));
  }

  /** release: the data plane goes down (the reservation stays). */
  @Override
  public void release(String connectionId) {
    simple("release", Set.of("releaseConfirmed"), connectionId, (p, h) -> p.release(connectionId, h));
  }

  /** terminate: the connection ends; its resources return to the provider. */
  @Override
  public void terminate(String connectionId) {
    simple("terminate", Set.of("terminateConfirmed"), connectionId, (p, h) -> p.terminate(connectionId, h));
  }

  /**
   * querySummarySync for the given connection ids and/or global reservation ids (this
   * requester's connections only). A connection the provider does not know is absent.
   */
  @Override
  public List<NsiConnection> query(List<String> connectionIds, List<String> globalReservationIds) {
    QueryType q = new QueryType();
    q.getConnectionId().addAll(connectionIds);
    q.getGlobalReservationId().addAll(globalReservationIds);
    QuerySummaryConfirmedType r;
    try {
      r = provider.querySummarySync(q, header(correlationId()));
    } catch (Error e) {
      throw refused("querySummarySync", e.getFaultInfo() == null ? null
          : e.getFaultInfo().getServiceException(), e.getMessage());
    } catch (WebServiceException e) {
      throw unreachable("querySummarySync", e);
    }
    List<NsiConnection> out = new ArrayList<>();
    for (QuerySummaryResultType res : r.getReservation()) {
      ConnectionStatesType s = res.getConnectionStates();
      out.add(new NsiConnection(res.getConnectionId(), res.getGlobalReservationId(),
          s == null || s.getReservationState() == null ? null : s.getReservationState().value(),
          s == null || s.getProvisionState() == null ? null : s.getProvisionState().value(),
          s == null || s.getLifecycleState() == null ? null : s.getLifecycleState().value(),
          s != null && s.getDataPlaneStatus() != null && s.getDataPlaneStatus().isActive()));
    }
    return out;
  }

  @Override
  public void close() {
    pending.failAll(new NsiException("NSI requester closed"));
    server.destroy();
    bus.shutdown(true);
  }

  // --- requests ---

  private interface Call {
    void send(ConnectionProviderPort p, Holder<CommonHeaderType> header) throws ServiceException;
  }

  /** Sends {@code op} and waits for one of {@code callbacks} for the same connection. */
  private void simple(String op, Set<String> callbacks, String connectionId, Call call) {
    String what = op + " of connection " + connectionId;
    String correlation = correlationId();
    CompletableFuture<Replies.Reply> reply = pending.expect(correlation, callbacks, connectionId);
    try {
      call.send(provider, header(correlation));
    } catch (ServiceException e) {
      pending.remove(correlation);
      throw refused(what, e.getFaultInfo(), e.getMessage());
    } catch (WebServiceException e) {
      pending.remove(correlation);
      throw unreachable(what, e);
    }
    await(what, correlation, reply);
  }

  private Replies.Reply await(String what, String correlation,
      CompletableFuture<Replies.Reply> reply) {
    Replies.Reply r;
    try {
      r = reply.get(config.replyTimeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new NsiException("NSI provider " + config.providerNsa() + ": " + what
          + ": no confirmation within " + config.replyTimeout().toSeconds() + " s");
    } catch (ExecutionException e) {
      throw new NsiException("NSI provider " + config.providerNsa() + ": " + what + ": "
          + e.getCause().getMessage(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new NsiException("NSI provider " + config.providerNsa() + ": " + what
          + ": interrupted while waiting for the confirmation");
    } finally {
      pending.remove(correlation);
    }
    if (r.failure() != null) {
      throw new NsiException("NSI provider " + config.providerNsa() + " refused " + what + ": "
          + r.failure(), true, null);
    }
    return r;
  }

  private NsiException refused(String what, ServiceExceptionType fault, String fallback) {
    return new NsiException("NSI provider " + config.providerNsa() + " refused " + what + ": "
        + reason(fault, fallback), true, null);
  }

  private NsiException unreachable(String what, WebServiceException e) {
    return new NsiException("NSI provider " + config.providerNsa() + " at "
        + config.providerUrl() + ": " + what + " failed: "
        + failure(e, config.identity(), config.identitySource()), e);
  }

  /**
   * Why a request failed: the message of {@code e}, or, when the provider's certificate was
   * refused for the names it carries (CXF's "No name matching HOST found"), which names it had
   * to carry and where they are configured.
   */
  static String failure(Throwable e, List<String> identity, String identitySource) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c instanceof java.security.cert.CertificateException && c.getMessage() != null
          && c.getMessage().startsWith("No name matching")) {
        return "its TLS certificate names none of " + identity + " (" + identitySource + ")";
      }
    }
    return e.getMessage();
  }

  static String reason(ServiceExceptionType fault, String fallback) {
    if (fault == null) {
      return fallback == null ? "(no reason given)" : fallback;
    }
    String text = fault.getText() == null ? "(no text)" : fault.getText().strip();
    return fault.getErrorId() == null ? text : text + " [" + fault.getErrorId() + "]";
  }

  private Holder<CommonHeaderType> header(String correlation) {
    CommonHeaderType h = new CommonHeaderType();
    h.setProtocolVersion(PROTOCOL);
    h.setCorrelationId(correlation);
    h.setRequesterNSA(config.requesterNsa());
    h.setProviderNSA(config.providerNsa());
    h.setReplyTo(config.replyTo().toString());
    return new Holder<>(h);
  }

  private static String correlationId() {
    return "urn:uuid:" + UUID.randomUUID();
  }

  private static XMLGregorianCalendar xml(Instant t) {
    GregorianCalendar c = new GregorianCalendar(TimeZone.getTimeZone("UTC"));
    c.setTimeInMillis(t.toEpochMilli());
    try {
      return DatatypeFactory.newInstance().newXMLGregorianCalendar(c);
    } catch (DatatypeConfigurationException e) {
      throw new IllegalStateException(e);
    }
  }

  // --- transport ---

  private ConnectionProviderPort dial(NsiTls.Material material) {
    JaxWsProxyFactoryBean f = new JaxWsProxyFactoryBean();
    f.setBus(bus);
    f.setServiceClass(ConnectionProviderPort.class);
    f.setAddress(config.providerUrl().toString());
    f.setProperties(jaxbProperties());
    ConnectionProviderPort port = (ConnectionProviderPort) f.create();
    Client client = ClientProxy.getClient(port);
    HTTPConduit conduit = (HTTPConduit) client.getConduit();
    TLSClientParameters tls = clientTls(material.keys(), material.trust(),
        config.providerIdentity());
    conduit.setTlsClientParameters(tls);
    HTTPClientPolicy policy = new HTTPClientPolicy();
    policy.setConnectionTimeout(config.replyTimeout().toMillis());
    policy.setReceiveTimeout(config.replyTimeout().toMillis());
    policy.setAllowChunking(false);
    conduit.setClient(policy);
    return port;
  }

  /**
   * How the provider's certificate is checked when dialing it: the chain against {@code trust};
   * then, with {@code providerIdentity} empty, CXF's default verifier against the URL's host
   * (subjectAltName, wildcards as RFC 2818 allows); else one of {@code providerIdentity}
   * instead, never the URL's host (see {@link ProviderIdentity#verifier}).
   */
  static TLSClientParameters clientTls(KeyManager[] keys, TrustManager[] trust,
      List<String> providerIdentity) {
    TLSClientParameters tls = new TLSClientParameters();
    tls.setKeyManagers(keys);
    tls.setTrustManagers(trust);
    tls.setDisableCNCheck(false);
    if (!providerIdentity.isEmpty()) {
      tls.setHostnameVerifier(ProviderIdentity.verifier(providerIdentity,
          "nsi.provider_identity"));
    }
    return tls;
  }

  /** The point-to-point service element travels in the criteria's xsd:any: JAXB must know it. */
  private static Map<String, Object> jaxbProperties() {
    Map<String, Object> p = new java.util.HashMap<>();
    p.put("jaxb.additionalContextClasses", new Class<?>[] {
        org.ogf.schemas.nsi._2013._12.services.point2point.ObjectFactory.class});
    return p;
  }

  private static void checkReplyTo(URI at) {
    if (!"https".equals(at.getScheme()) || at.getPort() <= 0) {
      throw new NsiException("nsi.requester_url: '" + at
          + "' must be https://HOST:PORT/PATH (the provider calls back over TLS)");
    }
  }

  private static void checkIdentity(Config c) {
    try {
      ProviderIdentity.checked(c.identity());
    } catch (IllegalArgumentException e) {
      throw new NsiException((c.providerIdentity().isEmpty() ? "nsi.provider_url: its host "
          : "nsi.provider_identity: ") + e.getMessage());
    }
  }

  private Server serve(NsiTls.Material material) {
    URI at = config.replyTo();
    TLSServerParameters tls = new TLSServerParameters();
    tls.setKeyManagers(material.keys());
    tls.setTrustManagers(material.trust());
    ClientAuthentication auth = new ClientAuthentication();
    auth.setWant(true);
    auth.setRequired(true);
    tls.setClientAuthentication(auth);
    try {
      bus.getExtension(JettyHTTPServerEngineFactory.class)
          .setTLSServerParametersForPort(at.getHost(), at.getPort(), tls);
    } catch (Exception e) {
      throw new NsiException("nsi.requester_url: '" + at + "': cannot set up TLS: "
          + e.getMessage(), e);
    }
    JaxWsServerFactoryBean f = new JaxWsServerFactoryBean();
    f.setBus(bus);
    f.setServiceClass(ConnectionRequesterPort.class);
    f.setServiceBean(new RequesterEndpoint(this::complete, events, config.providerNsa(),
        config.requesterNsa()));
    f.setProperties(jaxbProperties());
    f.getInInterceptors().add(new ProviderIdentity(config.identity(), config.identitySource()));
    f.setAddress(at.toString());
    try {
      return f.create();
    } catch (RuntimeException e) {
      throw new NsiException("nsi.requester_url: '" + at + "': cannot serve the requester"
          + " endpoint: " + e.getMessage(), e);
    }
  }

  /**
   * A confirmation or failure for the request with this correlation id; one that request
   * cannot get (another callback type or connection, an unknown correlation) is dropped.
   */
  private void complete(String correlation, String callback, String connectionId,
      String failure) {
    if (!pending.complete(correlation, new Replies.Reply(callback, connectionId, failure))) {
      log.warn("NSI provider {}: dropped a {} callback for connection {} (correlation {}):"
          + " no request waits for it", config.providerNsa(), callback, connectionId, correlation);
    }
  }
}
