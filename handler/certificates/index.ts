// Certificates by name over ACME HTTP-01 (issue 18); see docs/certificates.md.
export { AcmeOrderError, LETS_ENCRYPT_PRODUCTION, orderCertificate, type AcmeOptions, type IssuedCertificate } from "./acme.js";
export { CHALLENGE_PATH, MemoryChallengeStore, answerChallenge, challengeToken, isChallengeToken, type ChallengeAnswers, type ChallengeStore } from "./challenge.js";
export { CertificateManager, type CertificateLog, type CertificateManagerOptions } from "./manager.js";
export { CertificateNameError, certificateId, orderableNames } from "./names.js";
export { certificateFacts, type CertificateFacts } from "./pem.js";
export { isDue, nextOrder, renewalTime, retryDelay, type NextOrder } from "./renewal.js";
export { CertificateStore, type CertificateRecord } from "./store.js";
