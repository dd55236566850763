/**
 * Options every trainer takes besides its dataset (`trainChurnModel`, `trainClvModel` and the tree family's
 * `trainChurnTreesModel`, `trainClvTreesModel`).
 */
export interface TrainerOptions {
  /**
   * Version written into the manifest; it must equal the repository folder the artifact is written to.
   * `npm run train` keeps the default; `npm run batch:train` passes the destination's next version.
   * @default "1"
   */
  readonly version?: string;
}
