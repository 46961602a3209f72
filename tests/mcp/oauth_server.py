"""An MCP server that asks for OAuth 2.1, for cli/tests/mcp_oauth.rs.

The MCP Python SDK (pinned in requirements.txt) serves everything protocol-shaped: the
streamable HTTP endpoint at /mcp behind its bearer middleware, the RFC 9728 protected
resource metadata, the RFC 8414 authorization server metadata, RFC 7591 dynamic client
registration, /authorize (with its redirect_uri and PKCE checks) and /token (PKCE
verification, refresh). This file only provides the storage the SDK's provider interface
asks for, and an authorization step that approves at once (the resource owner says yes
without a login page).

Access tokens live ACCESS_TTL seconds (short, so the client has to refresh), and every
token issued is appended to --token-log as one JSON line, so the test can look for them
in the database. POST /test/revoke-all forgets every token (a refresh then fails with
invalid_grant).

Usage: python oauth_server.py --port P --token-log FILE [--access-ttl S]
"""

import argparse
import json
import secrets
import time

import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from starlette.requests import Request
from starlette.responses import JSONResponse


class ApprovingProvider:
    """In-memory OAuthAuthorizationServerProvider that approves every authorization."""

    def __init__(self, access_ttl: int, token_log: str):
        self.access_ttl = access_ttl
        self.token_log = token_log
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}

    def _log(self, kind: str, token: str) -> None:
        with open(self.token_log, "a") as f:
            f.write(json.dumps({"kind": kind, "token": token}) + "\n")

    async def get_client(self, client_id: str):
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.clients[client_info.client_id] = client_info
        self._log("client", client_info.client_id)

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject="test-user",
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client, authorization_code: str):
        code = self.codes.get(authorization_code)
        return code if code and code.client_id == client.client_id else None

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access = "at_" + secrets.token_urlsafe(24)
        refresh = "rt_" + secrets.token_urlsafe(24)
        self.access[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=int(time.time()) + self.access_ttl,
            resource=resource,
            subject="test-user",
        )
        self.refresh[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource, subject="test-user"
        )
        self._log("access", access)
        self._log("refresh", refresh)
        return OAuthToken(
            access_token=access,
            expires_in=self.access_ttl,
            scope=" ".join(scopes) if scopes else None,
            refresh_token=refresh,
        )

    async def exchange_authorization_code(self, client, authorization_code: AuthorizationCode) -> OAuthToken:
        self.codes.pop(authorization_code.code, None)
        return self._issue(client.client_id, authorization_code.scopes, authorization_code.resource)

    async def load_refresh_token(self, client, refresh_token: str):
        token = self.refresh.get(refresh_token)
        return token if token and token.client_id == client.client_id else None

    async def exchange_refresh_token(self, client, refresh_token: RefreshToken, scopes: list[str]) -> OAuthToken:
        if self.refresh.pop(refresh_token.token, None) is None:
            raise TokenError(error="invalid_grant", error_description="refresh token was revoked")
        return self._issue(client.client_id, scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str):
        access = self.access.get(token)
        if access and access.expires_at and access.expires_at < time.time():
            return None
        return access

    async def revoke_token(self, token) -> None:
        self.access.pop(token.token, None)
        self.refresh.pop(token.token, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-log", required=True)
    parser.add_argument("--access-ttl", type=int, default=2)
    args = parser.parse_args()

    base = f"http://127.0.0.1:{args.port}"
    provider = ApprovingProvider(args.access_ttl, args.token_log)
    server = MCPServer(
        name="oauth-test",
        auth_server_provider=provider,
        auth=AuthSettings(
            issuer_url=base,
            resource_server_url=f"{base}/mcp",
            client_registration_options=ClientRegistrationOptions(
                enabled=True, valid_scopes=["tools"], default_scopes=["tools"]
            ),
            required_scopes=["tools"],
            validate_token_resource=False,
        ),
    )

    @server.tool(description="Returns the text it is given, prefixed with 'oauth echo: '.")
    def echo(text: str) -> str:
        return f"oauth echo: {text}"

    @server.custom_route("/test/revoke-all", methods=["POST"])
    async def revoke_all(_: Request) -> JSONResponse:
        provider.access.clear()
        provider.refresh.clear()
        return JSONResponse({"revoked": True})

    app = server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
