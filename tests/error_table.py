"""The error table of the Tencent spec, shared by the classification and the end-to-end sender tests."""

from __future__ import annotations

from orchestrator.core.sending import OutcomeKind

K = OutcomeKind

#: The error table of spec/tencent-ses.md (docs/tencent.md), row by row: code -> the class it must get.
SPEC_TABLE: dict[str, OutcomeKind] = {
    "RequestLimitExceeded": K.THROTTLED,
    "RequestLimitExceeded.UinLimitExceeded": K.THROTTLED,
    "InternalError": K.TRANSIENT,
    "InternalError.QueryDataBaseFailed": K.TRANSIENT,
    "FailedOperation.ServiceNotAvailable": K.TRANSIENT,
    "FailedOperation.FrequencyLimit": K.RECIPIENT_LATER,
    "FailedOperation.TemporaryBlocked": K.DOMAIN_LATER,
    "FailedOperation.EmailAddrInBlacklist": K.RECIPIENT_NEVER,
    "FailedOperation.ReceiverHasUnsubscribed": K.RECIPIENT_NEVER,
    "FailedOperation.RejectedByRecipients": K.RECIPIENT_NEVER,
    "FailedOperation.IncorrectEmail": K.RECIPIENT_NEVER,
    "FailedOperation.UnsupportMailType": K.RECIPIENT_NEVER,
    "InvalidParameterValue.IllegalEmailAddress": K.RECIPIENT_NEVER,
    "InvalidParameterValue.ReceiverEmailInvalid": K.RECIPIENT_NEVER,
    "InvalidParameterValue.EmailAddressIsNULL": K.RECIPIENT_NEVER,
    "InvalidParameterValue.TemplateDataError": K.RECIPIENT_DATA,
    "InvalidParameterValue.InValidTemplateData": K.RECIPIENT_DATA,
    "InvalidParameterValue.TemplateDataLenLimit": K.RECIPIENT_DATA,
    "InvalidParameterValue.TemplateNotMatchData": K.RECIPIENT_DATA,
    "InvalidParameterValue.TemplateDataInconsistent": K.RECIPIENT_DATA,
    "FailedOperation.WrongContentJson": K.RECIPIENT_DATA,
    "FailedOperation.ExceedSendLimit": K.IDENTITY_TODAY,
    "AuthFailure.SignatureFailure": K.CAMPAIGN_FATAL,
    "AuthFailure.SignatureExpire": K.CAMPAIGN_FATAL,
    "AuthFailure.SecretIdNotFound": K.CAMPAIGN_FATAL,
    "AuthFailure.UnauthorizedOperation": K.CAMPAIGN_FATAL,
    "FailedOperation.NotAuthenticatedSender": K.CAMPAIGN_FATAL,
    "OperationDenied.DomainNotVerified": K.CAMPAIGN_FATAL,
    "InvalidParameterValue.NoSuchSender": K.CAMPAIGN_FATAL,
    "InvalidParameterValue.NotExistDomain": K.CAMPAIGN_FATAL,
    "OperationDenied.SendAddressStatusError": K.CAMPAIGN_FATAL,
    "FailedOperation.IncorrectSender": K.CAMPAIGN_FATAL,
    "FailedOperation.DKIMNotApplied": K.CAMPAIGN_FATAL,
    "FailedOperation.InvalidTemplateID": K.CAMPAIGN_FATAL,
    "InvalidParameterValue.TemplateNotExist": K.CAMPAIGN_FATAL,
    "OperationDenied.TemplateStatusError": K.CAMPAIGN_FATAL,
    "FailedOperation.WithOutPermission": K.CAMPAIGN_FATAL,
    "FailedOperation.MissingEmailContent": K.CAMPAIGN_FATAL,
    "InvalidParameterValue.TemplateContentIsNULL": K.CAMPAIGN_FATAL,
    "InvalidParameterValue.SubjectLengthError": K.CAMPAIGN_FATAL,
    "FailedOperation.InsufficientQuota": K.CAMPAIGN_FATAL,
    "FailedOperation.InsufficientBalance": K.CAMPAIGN_FATAL,
    "FailedOperation.HighRejectionRate": K.CAMPAIGN_FATAL,
    "LimitExceeded": K.CAMPAIGN_FATAL,
    "ServerNetworkError": K.TRANSIENT,
    "ClientNetworkError": K.IN_DOUBT,
}
