"""KRX market rules: trading days, sessions, the tick grid."""
