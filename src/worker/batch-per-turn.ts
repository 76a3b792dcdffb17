/**
 * Gathers calls made in the same turn of the event loop into one: the elements of a job
 * array are answered together, and recording each element's job in a transaction of its
 * own cost a 1,000-element sweep 1,000 commits where one does.
 */

/**
 * Wraps `run`, which takes many items and answers each in order, as a function of one item:
 * the items passed before the current turn of the event loop ends go to `run` together.
 * Each caller gets its own item's answer, or the batch's error (all of them fail together, so
 * `run` must be all or nothing, like one transaction).
 */
export function batchPerTurn<Item, Answer>(run: (items: Item[]) => Promise<Answer[]>): (item: Item) => Promise<Answer> {
  let waiting: Array<{ item: Item; resolve: (answer: Answer) => void; reject: (error: unknown) => void }> = [];
  const flush = () => {
    const batch = waiting;
    waiting = [];
    run(batch.map((entry) => entry.item)).then(
      (answers) => batch.forEach((entry, index) => entry.resolve(answers[index])),
      (error: unknown) => batch.forEach((entry) => entry.reject(error)),
    );
  };
  return (item) =>
    new Promise<Answer>((resolve, reject) => {
      if (waiting.length === 0) setImmediate(flush);
      waiting.push({ item, resolve, reject });
    });
}
