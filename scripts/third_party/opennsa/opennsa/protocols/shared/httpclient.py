"""
A nice handy HTTP client.

Author: Henrik Thostrup Jensen <htj@nordu.net>
Copyright: NORDUnet (2011-2012)
"""

from twisted.python import log
from twisted.internet import reactor, defer
from twisted.web import client as twclient, http as twhttp
from twisted.web.error import Error as WebError
from twisted.internet.error import ConnectionClosed, ConnectionRefusedError
from twisted.web.http_headers import Headers
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer
import io


LOG_SYSTEM = 'HTTPClient'

DEFAULT_TIMEOUT = 30 # seconds



class HTTPRequestError(Exception):
    """
    Raised when a request could not be made or failed in an unexpected way.
    """


@implementer(IPolicyForHTTPS)
class _TLSPolicy:
    # lambdagrid patch: the TLS options of OpenNSA's context factory for twisted.web.client.Agent
    def __init__(self, ctx_factory):
        self.ctx_factory = ctx_factory

    def creatorForNetloc(self, hostname, port):
        return self.ctx_factory.getClientTLSOptions(hostname.decode())


def soapRequest(url, soap_action, soap_envelope, timeout=DEFAULT_TIMEOUT, ctx_factory=None, headers=None):

    if not headers:
        headers = {}

    headers['Content-Type'] = 'text/xml; charset=utf-8' # CXF will complain if this is not set
    headers['soapaction'] = soap_action

    return httpRequest(url, soap_envelope, headers, ctx_factory=ctx_factory)



def httpRequest(url, payload, headers, method=b'POST', timeout=DEFAULT_TIMEOUT, ctx_factory=None):
    # copied from twisted.web.client in order to get access to the
    # factory (which contains response codes, headers, etc)

    # Make request work with both str and bytes url
    if type(url) is str:
        url = url.encode()

    if type(url) is not bytes:
        e = HTTPRequestError('URL must be bytes, not %s' % type(url))
        return defer.fail(e)

    if not url.startswith(b'http'):
        e = HTTPRequestError('URL does not start with http (URL %s)' % (url))
        return defer.fail(e)

    log.msg(" -- Sending Payload to {} --".format(url), system=LOG_SYSTEM, payload=True)
    log.msg(payload, system=LOG_SYSTEM, payload=True)
    log.msg(' -- END --', system=LOG_SYSTEM, payload=True)

    scheme, netloc, _ , _, _, _ = twhttp.urlparse(url)
    if not b':' in netloc:
        host = netloc
        port = 80 if scheme == 'http' else 443
    else:
        host, s_port = netloc.split(b':',1)
        port = int(s_port)

    # lambdagrid patch: twisted.web.client.HTTPClientFactory is gone from Twisted >= 21.7 (Debian 12
    # has 22.4); the same request through twisted.web.client.Agent, with the same results (the
    # body on 2xx, WebError carrying the body otherwise).
    hdrs = Headers({b'User-Agent': [b'OpenNSA/Twisted']})
    for header, value in headers.items():
        hdrs.setRawHeaders(header.encode('utf-8'), [value if type(value) is bytes else value.encode('utf-8')])

    if scheme == b'https':
        if ctx_factory is None:
            return defer.fail(HTTPRequestError('Cannot perform https request without context factory'))
        agent = twclient.Agent(reactor, contextFactory=_TLSPolicy(ctx_factory), connectTimeout=timeout)
    else:
        agent = twclient.Agent(reactor, connectTimeout=timeout)

    body = twclient.FileBodyProducer(io.BytesIO(payload)) if payload else None
    d = agent.request(method, url, hdrs, body)
    d.addTimeout(timeout, reactor)

    def gotResponse(response):
        def gotBody(data):
            if 200 <= response.code < 300:
                return data
            raise WebError(str(response.code).encode(), response.phrase, data)
        return twclient.readBody(response).addCallback(gotBody)

    d.addCallback(gotResponse)

    def invocationError(err):
        if isinstance(err.value, ConnectionClosed): # note: this also includes ConnectionDone and ConnectionLost
            # It might be better to just raise an error here, but at least we log it
            log.msg('ConnectionClosed failure: {} (this is usually okay during shutdown)'.format(err.value), system=LOG_SYSTEM)
            pass # these are pretty common when the remote shuts down
        elif isinstance(err.value, WebError):
            data = err.value.response
            log.msg(' -- Received Reply (fault) --', system=LOG_SYSTEM, payload=True)
            log.msg(data, system=LOG_SYSTEM, payload=True)
            log.msg(' -- END --', system=LOG_SYSTEM, payload=True)
            return err
        elif isinstance(err.value, ConnectionRefusedError):
            log.msg('Connection refused for %s:%i. Request URL: %s' % (host, port, url), system=LOG_SYSTEM)
            return err
        else:
            log.msg('Request to %s failed: %s' % (url, err.getErrorMessage()), system=LOG_SYSTEM) # lambdagrid patch
            return err

    def logReply(data):
        log.msg(' -- Received Reply --', system=LOG_SYSTEM, payload=True)
        log.msg(data, system=LOG_SYSTEM, payload=True)
        log.msg('-- END --', system=LOG_SYSTEM, payload=True)
        return data

    d.addCallbacks(logReply, invocationError)

    return d

