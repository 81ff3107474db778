import { PageHeader } from "@/components/page";

export default function Playground() {
  return <PageHeader title="Playground" description="Coming in the next slice." />;
}
