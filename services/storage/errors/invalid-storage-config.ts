/** Storage configuration from the environment is unusable; names the variable so the process stops clearly. */
export class InvalidStorageConfig extends Error {
  static readonly code = 'STORAGE_INVALID_CONFIG';
  readonly code = InvalidStorageConfig.code;
  readonly variable: string;

  constructor(variable: string, reason: string) {
    super(`Invalid ${variable}: ${reason}`);
    this.name = 'InvalidStorageConfig';
    this.variable = variable;
  }
}
