/**
 * The stream without its first `count` rows: whole batches dropped, the one holding row `count` sliced.
 * For any batch with a row count and a slice (RowBatch, Arrow's RecordBatch).
 */
export async function* skipRows<B extends { readonly numRows: number; slice(begin: number): B }>(
  batches: AsyncIterable<B>,
  count: number,
): AsyncGenerator<B> {
  let skip = count;
  for await (const batch of batches) {
    if (skip >= batch.numRows) {
      skip -= batch.numRows;
      continue;
    }
    yield skip > 0 ? batch.slice(skip) : batch;
    skip = 0;
  }
}
