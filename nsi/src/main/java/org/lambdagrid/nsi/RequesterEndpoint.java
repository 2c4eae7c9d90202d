package org.lambdagrid.nsi;

import jakarta.jws.WebService;
import jakarta.xml.ws.Holder;
import java.util.List;
import javax.xml.datatype.XMLGregorianCalendar;
import org.ogf.schemas.nsi._2013._12.connection.requester.ConnectionRequesterPort;
import org.ogf.schemas.nsi._2013._12.connection.types.ConnectionStatesType;
import org.ogf.schemas.nsi._2013._12.connection.types.DataPlaneStatusType;
import org.ogf.schemas.nsi._2013._12.connection.types.EventEnumType;
import org.ogf.schemas.nsi._2013._12.connection.types.GenericAcknowledgmentType;
import org.ogf.schemas.nsi._2013._12.connection.types.QueryNotificationConfirmedType;
import org.ogf.schemas.nsi._2013._12.connection.types.QueryRecursiveResultType;
import org.ogf.schemas.nsi._2013._12.connection.types.QueryResultResponseType;
import org.ogf.schemas.nsi._2013._12.connection.types.QuerySummaryResultType;
import org.ogf.schemas.nsi._2013._12.connection.types.ReservationConfirmCriteriaType;
import org.ogf.schemas.nsi._2013._12.framework.headers.CommonHeaderType;
import org.ogf.schemas.nsi._2013._12.framework.types.ServiceExceptionType;
import org.ogf.schemas.nsi._2013._12.framework.types.TypeValuePairListType;

/**
 * The requester endpoint the provider calls back on: confirmations and failures go to the
 * waiting request by the header's correlation id (with the callback's name and connection id,
 * which the request checks); unsolicited notifications to {@link NsiEvents}. A callback whose
 * header does not name the configured provider NSA as providerNSA and this requester as
 * requesterNSA is dropped (logged). Every callback is acknowledged (the NSI header is echoed).
 */
@WebService(serviceName = "ConnectionServiceRequester", portName = "ConnectionServiceRequesterPort",
    targetNamespace = "http://schemas.ogf.org/nsi/2013/12/connection/requester",
    endpointInterface = "org.ogf.schemas.nsi._2013._12.connection.requester.ConnectionRequesterPort")
final class RequesterEndpoint implements ConnectionRequesterPort {
  interface Sink {
    void complete(String correlationId, String callback, String connectionId, String failure);
  }

  private static final org.slf4j.Logger log =
      org.slf4j.LoggerFactory.getLogger(RequesterEndpoint.class);

  private final Sink sink;
  private final NsiEvents events;
  private final String providerNsa;
  private final String requesterNsa;

  RequesterEndpoint(Sink sink, NsiEvents events, String providerNsa, String requesterNsa) {
    this.sink = sink;
    this.events = events;
    this.providerNsa = providerNsa;
    this.requesterNsa = requesterNsa;
  }

  private static String correlation(Holder<CommonHeaderType> h) {
    return h == null || h.value == null ? null : h.value.getCorrelationId();
  }

  /** Whether the header names our provider and us; logs what it drops. */
  private boolean fromOurProvider(String callback, String connectionId, Holder<CommonHeaderType> h) {
    String from = h == null || h.value == null ? null : h.value.getProviderNSA();
    String to = h == null || h.value == null ? null : h.value.getRequesterNSA();
    if (providerNsa.equals(from) && requesterNsa.equals(to)) {
      return true;
    }
    log.warn("dropped a {} callback for connection {}: its header names providerNSA '{}' and"
        + " requesterNSA '{}', not the configured {} and {}", callback, connectionId, from, to,
        providerNsa, requesterNsa);
    return false;
  }

  private void ok(String callback, Holder<CommonHeaderType> h, String connectionId) {
    if (fromOurProvider(callback, connectionId, h)) {
      sink.complete(correlation(h), callback, connectionId, null);
    }
  }

  private void failed(String callback, Holder<CommonHeaderType> h, String connectionId,
      ServiceExceptionType e) {
    if (fromOurProvider(callback, connectionId, h)) {
      sink.complete(correlation(h), callback, connectionId,
          NsiRequester.reason(e, "failed without a reason"));
    }
  }

  @Override
  public void reserveConfirmed(String connectionId, String globalReservationId,
      String description, ReservationConfirmCriteriaType criteria,
      Holder<CommonHeaderType> header) {
    ok("reserveConfirmed", header, connectionId);
  }

  @Override
  public void reserveFailed(String connectionId, ConnectionStatesType connectionStates,
      ServiceExceptionType serviceException, Holder<CommonHeaderType> header) {
    failed("reserveFailed", header, connectionId, serviceException);
  }

  @Override
  public void reserveCommitConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok("reserveCommitConfirmed", header, connectionId);
  }

  @Override
  public void reserveCommitFailed(String connectionId, ConnectionStatesType connectionStates,
      ServiceExceptionType serviceException, Holder<CommonHeaderType> header) {
    failed("reserveCommitFailed", header, connectionId, serviceException);
  }

  @Override
  public void reserveAbortConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok("reserveAbortConfirmed", header, connectionId);
  }

  @Override
  public void provisionConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok("provisionConfirmed", header, connectionId);
  }

  @Override
  public void releaseConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok("releaseConfirmed", header, connectionId);
  }

  @Override
  public void terminateConfirmed(String connectionId, Holder<CommonHeaderType> header) {
    ok("terminateConfirmed", header, connectionId);
  }

  @Override
  public void error(ServiceExceptionType serviceException, Holder<CommonHeaderType> header) {
    failed("error", header, serviceException == null ? null : serviceException.getConnectionId(),
        serviceException);
  }

  @Override
  public void reserveTimeout(String connectionId, long notificationId,
      XMLGregorianCalendar timeStamp, int timeoutValue, String originatingConnectionId,
      String originatingNSA, Holder<CommonHeaderType> header) {
    if (fromOurProvider("reserveTimeout", connectionId, header)) {
      events.reserveTimeout(connectionId, timeoutValue);
    }
  }

  @Override
  public void dataPlaneStateChange(String connectionId, long notificationId,
      XMLGregorianCalendar timeStamp, DataPlaneStatusType dataPlaneStatus,
      Holder<CommonHeaderType> header) {
    if (fromOurProvider("dataPlaneStateChange", connectionId, header)) {
      events.dataPlaneStateChange(connectionId,
          dataPlaneStatus != null && dataPlaneStatus.isActive());
    }
  }

  @Override
  public void errorEvent(String connectionId, long notificationId, XMLGregorianCalendar timeStamp,
      EventEnumType event, String originatingConnectionId, String originatingNSA,
      TypeValuePairListType additionalInfo, ServiceExceptionType serviceException,
      Holder<CommonHeaderType> header) {
    if (fromOurProvider("errorEvent", connectionId, header)) {
      events.errorEvent(connectionId, event == null ? "errorEvent" : event.value(),
          NsiRequester.reason(serviceException, ""));
    }
  }

  @Override
  public void messageDeliveryTimeout(String connectionId, long notificationId,
      XMLGregorianCalendar timeStamp, String correlationId, Holder<CommonHeaderType> header) {
    // A request of ours the provider could not forward in time: fail whoever waits for it.
    if (fromOurProvider("messageDeliveryTimeout", connectionId, header)) {
      sink.complete(correlationId, "messageDeliveryTimeout", connectionId,
          "message delivery timeout");
    }
  }

  // Queries go through querySummarySync; the asynchronous query answers are only acknowledged.

  @Override
  public void querySummaryConfirmed(List<QuerySummaryResultType> reservation,
      XMLGregorianCalendar lastModified, Holder<CommonHeaderType> header) {}

  @Override
  public GenericAcknowledgmentType queryNotificationConfirmed(
      QueryNotificationConfirmedType queryNotificationConfirmed, Holder<CommonHeaderType> header) {
    return new GenericAcknowledgmentType();
  }

  @Override
  public void queryResultConfirmed(List<QueryResultResponseType> result,
      Holder<CommonHeaderType> header) {}

  @Override
  public void queryRecursiveConfirmed(List<QueryRecursiveResultType> reservation,
      Holder<CommonHeaderType> header) {}
}
