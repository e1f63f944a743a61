// Certificates by name over ACME HTTP-01 (issue 18); see docs/certificates.md.
// acme.ts (acme-client) is not re-exported here: it is loaded at the first order (manager.ts).
export { AcmeOrderError, type AcmeOptions, type IssuedCertificate } from "./acme-order-error.js";
export { CHALLENGE_PATH, MemoryChallengeStore, answerChallenge, challengeToken, isChallengeToken, type ChallengeAnswers, type ChallengeStore } from "./challenge.js";
export { CertificateManager, type CertificateLog, type CertificateManagerOptions, type OrderFunction } from "./manager.js";
export { CertificateNameError, certificateId, orderableNames } from "./names.js";
export { certificateFacts, type CertificateFacts } from "./pem.js";
export { isDue, nextOrder, renewalTime, retryDelay, type NextOrder } from "./renewal.js";
export { CertificateStore, type CertificateRecord } from "./store.js";
