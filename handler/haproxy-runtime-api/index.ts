// haproxy-runtime-api: a client for HAProxy's runtime API (admin socket).
// A module of its own: it knows nothing of Consul or of the handler.
export { commands, InvalidCommandArgument, type RuntimeCommand, type ServerAdminState, type ServerHealth } from "./commands.js";
export { ReplySplitter, RuntimeApiClient, RuntimeApiError, type CommandReply, type RuntimeSession, type RuntimeApiClientOptions } from "./client.js";
export {
  parseOpensslTime,
  parseShowInfo,
  parseShowServersState,
  parseShowSslCert,
  parseShowSslCertList,
  parseShowStat,
  type ProcessInfo,
  type ServerStateRow,
  type SslCertDetail,
  type SslCertificate,
  type SslCertList,
  type StatRow,
} from "./parse.js";
export {
  CERT_FILE_REFUSED_ENDINGS,
  CERT_PATH_PATTERN,
  CERT_PATH_RULE,
  describeRange,
  isCertFile,
  isCertPath,
  isIpLiteral,
  isKeyword,
  isName,
  isWithin,
  KEYWORD_PATTERN,
  KEYWORD_RULE,
  MAXCONN,
  NAME_PATTERN,
  NAME_RULE,
  PEM_PAYLOAD_MAX_BYTES,
  pemPayloadProblem,
  PORT,
  WEIGHT,
  type WholeNumberRange,
} from "./limits.js";
export { parseEndpoint, type RuntimeEndpoint } from "./endpoint.js";
